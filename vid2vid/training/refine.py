"""Go on training a generator's flow branch after its GAN training: ``refine_flow_generator``.

With ``model.flow_branch=labels``, ``model.flow_detach`` and ``model.mask_detach`` (the ``synthetic``
preset), the flow W and the occlusion mask M read the label maps only and learn only from the true
flow and occlusion: a supervised regression that nothing of the adversarial game reaches. Its
training can therefore continue after the GAN steps, on as many videos as the data allow
(:meth:`vid2vid.training.trainer.Trainer.refine_flow`), while every other weight stays as trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["refine_flow_generator"]


def refine_flow_generator(generator: str | Path, out_dir: str | Path, updates: int,
                          data_overrides: Sequence[str] = (), lr: float | None = None) -> Path:
    """Refine the flow branch of ``generator`` (a ``generator.pt``) for ``updates`` updates, the
    learning rate decayed linearly from ``lr`` (default the run's ``train.lr``) to zero, on the
    videos of its configuration with ``data_overrides`` applied (e.g. ``["data.root=...",
    "data.synthetic_sequences=48"]``: more training videos). Writes ``<out_dir>/generator.pt`` (the
    configuration and step of ``generator``, its weights outside W and M unchanged, and a
    ``"flow_refine"`` entry saying what was done) and ``<out_dir>/flow_refine.jsonl``; returns the
    new file. A generator whose flow branch the GAN reaches is refused (a ``ValueError``)."""
    from vid2vid.models.io import _generator_checkpoint, export_generator, load_generator
    from vid2vid.training.trainer import Trainer

    generator, out_dir = Path(generator), Path(out_dir)
    cfg, G, step = load_generator(generator)
    earlier = _generator_checkpoint(generator).get("flow_refine")
    if earlier is not None:
        raise ValueError(f"{generator}: its flow branch was refined already ({earlier}); refine the "
                         "generator it was made from with more updates instead")
    run_cfg = cfg.override(list(data_overrides))
    trainer = Trainer(run_cfg, out_dir, overwrite=True, log_with=None)
    trainer.G.load_state_dict(G.state_dict())
    trainer.refine_flow(updates, lr)
    record = {"updates": updates, "lr": run_cfg.train.lr if lr is None else lr, "from": str(generator),
              "data_root": run_cfg.data.root, "data_overrides": list(data_overrides)}
    return export_generator(out_dir / "generator.pt", cfg, trainer.G, step, extra={"flow_refine": record})
