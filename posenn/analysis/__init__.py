"""From poses to behaviour: `posenn analyze`, built on movement.

One module per step:

1. `poses`: predictions loaded by movement's SLEAP loader, fragments left out, cleaned with
   movement's confidence filter, gap interpolation and smoothing; units (px or mm, frames or s);
2. `kinematics`: per animal and node speed, acceleration, heading, path length, time moving and
   still, and each animal's body length;
3. `interactions`: distances between animals, contact and approach bouts;
4. `tables` and `figures`: tidy tables, the summary JSON and PNG figures;
5. `run`: `analyze`, the steps above put together behind a progress bar.
"""

from posenn.analysis.run import AnalysisOptions, AnalysisResult, analyze

__all__ = ["AnalysisOptions", "AnalysisResult", "analyze"]
