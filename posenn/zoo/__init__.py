"""Pretrained models by name: the index (`registry`), files on disk (`fetch`), `zoo:NAME`
references (`refs`) and model cards (`cards`)."""
