"""Bottom-up head: part maps of every animal at once plus part affinity fields, grouped into
animals after decoding.

The model has two outputs: part maps `(batch, nodes, h, w)` at `output_stride` and fields
`(batch, 2 * edges, h', w')` at `paf_stride`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from posenn.heads.confmaps import gaussian_maps, local_peaks
from posenn.heads.grouping import GroupedInstances, assemble_instances, assign_limbs
from posenn.heads.pafs import line_scores, part_affinity_fields, short_limb_penalty

# Candidate peaks per part are at least this many, however few instances are wanted: a stray
# peak that outscores a true part must not push it out of the candidates.
MIN_PEAKS_PER_PART = 8
# A limb needs this fraction of its field samples to point along it (see `line_scores`).
MIN_LINE_SUPPORT = 0.8


@dataclass(frozen=True)
class GroupingOptions:
    """How decoded parts are grouped into instances.

    Attributes:
        max_instances: at most this many animals per frame (and the peaks kept per part, at
            least `MIN_PEAKS_PER_PART`).
        min_line_score: weakest mean field projection a limb may have.
        line_points: field samples along each candidate limb.
        max_edge_length: limbs longer than this (input pixels) are penalised: one length, or one
            per edge of the head's `edges`; None for no penalty.
        min_edge_length: limbs shorter than this rank lower when limbs are assigned (one length, or
            one per edge; None for no penalty): of a stray peak beside the source and the true
            part further along the field, the true part wins (see `short_limb_penalty`). Their line
            scores, and so the instance scores, are left as they are.
        min_points: instances with fewer parts are dropped.
        min_score: instances scoring less (limb scores and peak values over edges and nodes, see
            `GroupedInstances`) are dropped.
        max_hop_length: fragments join a nearby instance missing their parts when within this
            distance (input pixels) per skeleton edge between them (see `fragments`); None or 0
            for no joining.
        limb_peak_weight: weight of the two parts' mean peak value beside the line score when
            limbs are assigned: of two candidate parts along the same field, the stronger peak
            wins. 0 for line scores alone (as SLEAP).
    """

    max_instances: int = 16
    min_line_score: float = 0.25
    line_points: int = 10
    max_edge_length: float | tuple[float, ...] | None = None
    min_points: int = 2
    min_score: float = 0.0
    max_hop_length: float | None = None
    limb_peak_weight: float = 0.0
    min_edge_length: float | tuple[float, ...] | None = None


@dataclass(frozen=True)
class LimbCandidates:
    """Decoded parts and scored candidate limbs of a batch, on the outputs' device.

    Attributes:
        peaks: `(batch, nodes, peaks, 2)` part positions, NaN past the last peak.
        peak_scores: `(batch, nodes, peaks)`.
        scores: `(batch, edges, peaks, peaks)` line scores [source, destination].
        allowed: same shape, bool: both parts found, score and support above their minimums.
        ranking: same shape, what the assignment of limbs maximises: line scores plus
            `limb_peak_weight` × the mean peak value of the two parts, minus the short-limb penalty.
    """

    peaks: torch.Tensor
    peak_scores: torch.Tensor
    scores: torch.Tensor
    allowed: torch.Tensor
    ranking: torch.Tensor


@dataclass(frozen=True)
class BottomUpHead:
    """Encode all animals as part maps and limb fields; decode and group them back.

    Attributes:
        n_nodes: number of body parts.
        edges: `(source, destination)` node indices of the skeleton forest the fields follow.
        sigma: Gaussian spread of the part maps, input pixels.
        output_stride: stride of the part maps.
        paf_stride: stride of the fields.
        paf_width: width of the band around each limb, input pixels.
        grouping: how parts are grouped into instances.
        centred: the grid convention of both outputs (see `posenn.heads.confmaps`).
        refinement: subpixel peak refinement, "parabola" or "integral" (see `peak_offsets`).
    """

    n_nodes: int
    edges: tuple[tuple[int, int], ...]
    sigma: float
    output_stride: int
    paf_stride: int
    paf_width: float
    grouping: GroupingOptions = GroupingOptions()
    centred: bool = True
    refinement: str = "parabola"

    def targets(self, points: torch.Tensor) -> torch.Tensor:
        """The ground truth in this head's terms: every animal, `(batch, instances, nodes, 2)`."""
        return points

    def encode(self, points: torch.Tensor, image_shape: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, instances, nodes, 2)` → part maps `(batch, nodes, h, w)` and fields
        `(batch, 2 * edges, h', w')`."""
        height, width = image_shape
        maps = gaussian_maps(points, height, width, self.output_stride, self.sigma, self.centred)
        fields = part_affinity_fields(
            points, list(self.edges), height, width, self.paf_stride, self.paf_width, self.centred
        )
        return maps, fields

    def decode(
        self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Part maps and fields → instances.

        Peaks and limb scores are computed on the outputs' device; the assignment and grouping
        on the CPU, once per batch.

        Returns:
            points: `(batch, max_instances, nodes, 2)` xy in input pixels, NaN where missing.
            point_scores: `(batch, max_instances, nodes)`.
            instance_scores: `(batch, max_instances)`, see `GroupedInstances.scores`.
        """
        grouped = self.group(outputs, peak_threshold)
        return torch.from_numpy(grouped.points), torch.from_numpy(grouped.point_scores), torch.from_numpy(grouped.scores)

    def group(self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float) -> GroupedInstances:
        """Limb candidates on the outputs' device, then their grouping on the CPU."""
        return self.assemble(self.limb_candidates(outputs, peak_threshold))

    def limb_candidates(self, outputs: tuple[torch.Tensor, torch.Tensor], peak_threshold: float) -> LimbCandidates:
        """Peaks of every part, and every candidate limb between them scored along its field."""
        maps, fields = (output.detach().float() for output in outputs)
        options = self.grouping
        peaks_per_part = max(options.max_instances, MIN_PEAKS_PER_PART)
        peaks, peak_scores = local_peaks(maps, self.output_stride, peak_threshold, peaks_per_part, self.centred, self.refinement)
        edges = torch.tensor(self.edges, device=maps.device, dtype=torch.long).reshape(-1, 2)
        found = ~torch.isnan(peaks[..., 0])  # (batch, nodes, peaks)
        sources, destinations = torch.nan_to_num(peaks[:, edges[:, 0]]), torch.nan_to_num(peaks[:, edges[:, 1]])
        scores, support = line_scores(
            fields, self.paf_stride, sources, destinations, options.line_points, options.max_edge_length, self.centred
        )
        both_found = found[:, edges[:, 0], :, None] & found[:, edges[:, 1], None, :]
        allowed = both_found & (scores > options.min_line_score) & (support >= MIN_LINE_SUPPORT)
        values = torch.nan_to_num(peak_scores)
        mean_peak = (values[:, edges[:, 0], :, None] + values[:, edges[:, 1], None, :]) / 2
        ranking = scores + options.limb_peak_weight * mean_peak
        if options.min_edge_length is not None:
            ranking = ranking + short_limb_penalty(sources, destinations, options.min_edge_length)
        return LimbCandidates(peaks, peak_scores, scores, allowed, ranking)

    def assemble(self, candidates: LimbCandidates) -> GroupedInstances:
        """One transfer to the CPU, the optimal limbs per edge, and their connected parts."""
        limbs = assign_limbs(candidates.scores.cpu().numpy(), candidates.allowed.cpu().numpy(), candidates.ranking.cpu().numpy())
        options = self.grouping
        return assemble_instances(
            candidates.peaks.cpu().numpy(), candidates.peak_scores.cpu().numpy(), limbs, list(self.edges),
            options.max_instances, options.min_points, options.min_score, options.max_hop_length,
        )
