"""The vid2vid training loop with Accelerate: one CPU process to many GPUs, same code.

Shape of a step (one batch of training windows ``[B, T, ...]``), as in the reference code:

- frames are generated in order, each output fed back as a previous frame of the next;
- truncated back-propagation: the window is cut into chunks of ``train.chunk_length`` frames;
  each chunk is one generator update then one discriminator update, and the frames carried
  over into the next chunk are detached;
- ``D_I`` judges every new frame (and its raw hallucination); ``D_V`` judges every K-frame clip
  that ends in the chunk, at every temporal scale; with ``model.use_face_D`` the face discriminator
  judges a crop around the face of every new frame that shows one (its parameters are a group of
  D's optimiser, as in the reference);
- Adam for G and for D with the reference's betas, constant then linearly decayed learning rate,
  optional TTUR; temporal curriculum (window length doubles every ``niter_step`` epochs) and
  spatial curriculum (coarser scales frozen ``niter_fix_global`` epochs after a finer one is added);
  an optional EMA of G; mixed precision through Accelerate;
- with ``model.feat_nc`` > 0 (multimodal synthesis) G's feature encoder E encodes the real frames of
  the window, pooled per instance (the region keys of the window's label and instance maps), and
  trains with G through G's losses (:mod:`vid2vid.models.feature_encoder`). With ``train.total_steps`` the run
  lasts that many steps and these epoch counts become shares of them (:mod:`vid2vid.training.schedule`).

Checkpoints: ``<out>/checkpoints/step_<N>/`` holds Accelerate's state (models, optimisers, RNG
states of every process) and ``trainer.pt`` (step, epoch, position in the epoch, EMA); it is
written under a temporary name, flushed to disk and renamed when complete, every
``checkpoint_every`` steps and at exit. ``<out>/generator.pt`` (config + generator weights, the EMA
when there is one) is what ``python -m vid2vid generate`` reads; ``train.snapshot_every`` also keeps
copies of it along the way (``<out>/snapshots/step_<N>.pt``, to see how quality grows). Only the main
process writes files.

What goes wrong, and what it costs (divergence, signals, full disks, damaged checkpoints): see
:mod:`vid2vid.training.faults`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.profiler import record_function

from vid2vid.config import Config
from vid2vid.data.folder import VideoFolderDataset
from vid2vid.flow import flow_confidence, get_flow_estimator
from vid2vid.losses import flow_loss, occlusion_mask_loss
from vid2vid.machine import resolve_precision
from vid2vid.models import background_mask, build_discriminators, build_generator
from vid2vid.models.discriminators import FaceDiscriminator
from vid2vid.models.feature_encoder import region_keys
from vid2vid.models.io import (
    CheckpointWriteError,
    TrainingDiverged,
    atomic_save,
    export_generator,
    first_nonfinite,
    fsync_dir,
    load_generator,
    safe_load,
)
from vid2vid.models.sequence import SequenceGenerator, label_window
from vid2vid.training.checkpoint import (
    DamagedCheckpoint,
    check_model_files,
    check_random_state,
    damaged_file,
    first_sentence,
    fsync_tree,
    list_checkpoints,
    load_newest,
    prune_checkpoints,
)
from vid2vid.training.ema import EMA
from vid2vid.training.faults import (
    RUN_FILES,  # noqa: F401 (importable from here, where it used to be)
    OutputExistsError,
    StopSignals,
    TrainingInterrupted,
    TrainingTerminated,
    claim_out_dir,
    trim_log,
)
from vid2vid.training.objective import AllTemporalScales, Chunk, Objective
from vid2vid.training.schedule import coarse_frozen, lr_factor, schedule_epoch, sequence_length

# TrainingDiverged, export_generator and load_generator live in vid2vid.models.io (reading weights
# needs no trainer), the errors of a stopped run and trim_log in vid2vid.training.faults; they stay
# importable from here, where they used to be
__all__ = ["OutputExistsError", "Trainer", "TrainingDiverged", "TrainingInterrupted", "TrainingTerminated",
           "build_dataset", "export_generator", "load_generator", "trim_log"]

WARMUP_EPOCHS = 1_000_000  # the flow warm-up draws its windows as epochs 10^6, 10^6 + 1, ...
WARMUP_WINDOW = 50  # updates over which the warm-up compares its flow loss with a zero flow's
def build_dataset(cfg: Config, split: str = "train", training: bool = True,
                  n_frames: int | None = None) -> VideoFolderDataset:
    """The folder dataset of a configuration (sizes, crops, flips, strides as the preset says)."""
    d = cfg.data
    crop = (d.crop_height, d.crop_width) if d.crop_height and d.crop_width else None
    scale = (d.crop_height / d.height, 1.0) if (d.random_scale and crop) else (1.0, 1.0)
    return VideoFolderDataset(
        d.root, split=split, n_frames=n_frames or cfg.train.n_frames_start, label_nc=d.label_nc,
        input_nc=d.input_nc, use_instance=d.use_instance, load_flow=d.flow_source == "folder",
        load_occlusion=training and cfg.loss.mask_target == "occlusion" and cfg.loss.lambda_mask > 0,
        load_size=(d.height, d.width), crop_size=crop, scale_range=scale, flip=d.flip and training,
        max_stride=d.max_t_step if training else None, training=training, seed=cfg.train.seed,
        load_keypoints=training and cfg.model.use_face_D,
    )


def use_cpu() -> bool:
    """Whether Accelerate must run on the CPU: asked for (``ACCELERATE_USE_CPU=1``, ``accelerate
    launch --cpu``) or no GPU present. Accelerate forms a multi-process CPU group (gloo) only when
    told ``cpu=True``; otherwise each launched process would silently run alone as rank 0."""
    flag = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return flag or not torch.cuda.is_available()


def _release_single_process_state() -> None:
    """Accelerate keeps one global state per process; a later Trainer in the same single process
    (a notebook, a test) may want another mixed precision. Multi-process states are never reset."""
    from accelerate.state import AcceleratorState, PartialState

    if AcceleratorState._shared_state and PartialState._shared_state and PartialState().num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=False)


def check_process_group(num_processes: int) -> None:
    """Fail loudly when a launcher started several processes but they did not form one group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and num_processes != world:
        raise RuntimeError(f"launched as {world} processes (WORLD_SIZE) but Accelerate sees {num_processes}: "
                           "the processes would train independently; check the accelerate launch flags")


class Trainer:
    """Builds the networks, optimisers and data of a configuration and trains them.

    Args:
        cfg: the run's settings.
        out_dir: where checkpoints, logs and samples go.
        resume: continue from the newest complete checkpoint in ``out_dir`` that loads (a damaged
            newer one is skipped with a :class:`~vid2vid.training.checkpoint.CheckpointWarning`);
            starts from scratch when the folder holds no run.
        max_steps: stop after this many steps in total (smoke runs, tests); None = the recipe's epochs
            (or ``train.total_steps``, whichever ends first; max_steps does not rescale the schedules).
        accelerator: an ``accelerate.Accelerator``; one is made from the config when None.
        log_with: Accelerate's tracker (``"tensorboard"``) or None.
        overwrite: replace the run already in ``out_dir`` (its checkpoints, generator.pt, snapshots,
            samples and logs are removed). Without it (or ``resume``) a folder that holds checkpoints
            or generator.pt is refused with :class:`OutputExistsError`.
        check_data: decode every training file before anything trains
            (:func:`~vid2vid.data.check.check_dataset`), so that a truncated or bad file stops the
            run now, listed with every other, rather than hours in when a window draws it. None
            (default): when the split has at most ``data.check_max_files`` files.
    """

    def __init__(self, cfg: Config, out_dir: str | Path, resume: bool = False, max_steps: int | None = None,
                 accelerator=None, log_with: str | None = "tensorboard", overwrite: bool = False,
                 check_data: bool | None = None):
        from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
        from accelerate.utils import set_seed

        if resume and overwrite:
            raise ValueError("resume=True continues the run in the output folder and overwrite=True replaces "
                             "it: pass one of them (--resume or --overwrite)")
        self.cfg, self.out = cfg, Path(out_dir)
        self.max_steps = max_steps
        if accelerator is None:
            _release_single_process_state()
        cpu = use_cpu()
        precision, self.precision_reason = resolve_precision(cfg.train.mixed_precision, cuda=not cpu)
        self.acc = accelerator or Accelerator(
            cpu=cpu, mixed_precision=precision,
            log_with=log_with, project_dir=str(self.out / "logs"),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
            # the first frame of a sequence uses no flow head, a frozen coarse scale no coarse weights
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        check_process_group(self.acc.num_processes)
        self._claim_out_dir(resume, overwrite)
        set_seed(cfg.train.seed)
        t = cfg.train

        self.G = build_generator(cfg)
        if t.coarse_checkpoint:
            self.G.load_coarser(safe_load(t.coarse_checkpoint)["generator"])
        self.D_I, D_V = build_discriminators(cfg)
        self.D_V = AllTemporalScales(D_V) if D_V is not None else None
        self.D_face = FaceDiscriminator.from_config(cfg) if cfg.model.use_face_D else None
        vgg = None
        if cfg.loss.lambda_vgg > 0:
            from vid2vid.losses import VGGLoss
            vgg = VGGLoss(cfg.loss.vgg_weights)
        self.objective = Objective(cfg, vgg)
        self.ema = EMA(self.G, t.ema_decay) if t.ema_decay > 0 else None

        lr_G, lr_D, betas = t.lr, t.lr, (t.beta1, t.beta2)
        if t.ttur:  # the reference's TTUR changes G's and D_I's rates; D_V keeps the base rate
            lr_G, lr_D, betas = t.lr / 2, t.lr * 2, (0.0, 0.9)
        d_groups = [{"params": list(self.D_I.parameters()), "base_lr": lr_D}]
        if self.D_V is not None:
            d_groups.append({"params": list(self.D_V.parameters()), "base_lr": t.lr})
        if self.D_face is not None:  # the reference trains it with D_I's rate (TTUR included)
            d_groups.append({"params": list(self.D_face.parameters()), "base_lr": lr_D})
        self.opt_G = torch.optim.Adam([{"params": list(self.G.parameters()), "base_lr": lr_G}], lr=lr_G,
                                      betas=betas)
        self.opt_D = torch.optim.Adam([{**g, "lr": g["base_lr"]} for g in d_groups], lr=lr_D, betas=betas)

        self.dataset = build_dataset(cfg, "train", training=True)
        self._check_data(check_data)
        per_process = max(1, t.batch_size // self.acc.num_processes)
        self.global_batch = per_process * self.acc.num_processes  # windows per step, all processes
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=per_process, shuffle=True,
                                             num_workers=cfg.data.num_workers, drop_last=False)
        self.flow_estimator = None
        if cfg.data.flow_source != "folder":
            self.flow_estimator = get_flow_estimator(cfg.data.flow_source)

        for mod in (self.G, self.D_I, self.D_V, self.D_face):
            if mod is None:
                continue
            if t.speed_rewrites:  # same Parameters and state-dict keys (vid2vid.models.speed); before compile
                from vid2vid.models.speed import apply_speed_rewrites
                apply_speed_rewrites(mod, t.speed_rewrites)
            if t.compile:  # in place (nn.Module.compile): state dicts, checkpoints and EMA keep their keys
                mod.compile()
        seqG = SequenceGenerator(self.G)
        modules = [seqG, self.D_I] + ([self.D_V] if self.D_V is not None else []) + \
            ([self.D_face] if self.D_face is not None else [])
        prepared = self.acc.prepare(*modules, self.opt_G, self.opt_D, loader)
        self.seqG, self.D_I_p = prepared[0], prepared[1]
        self.D_V_p = prepared[2] if self.D_V is not None else None
        self.D_face_p = prepared[len(modules) - 1] if self.D_face is not None else None
        self.opt_G, self.opt_D, self.loader = prepared[-3], prepared[-2], prepared[-1]
        self.objective.to(self.acc.device)
        if self.ema is not None:
            self.ema.to(self.acc.device)

        self.step = self.epoch = self.batch_in_epoch = 0
        self.warmup_updates = self.warmup_sweeps = 0  # the flow warm-up's progress (fresh runs only)
        self.total_epochs = t.niter + t.niter_decay
        self.history: list[dict[str, float]] = []
        self._saved_step: int | None = None  # the step of the newest checkpoint this run holds
        self._partial = False  # the step under way has updated some weights already
        self._sampled_step: int | None = None  # the step of the newest sample this run wrote
        if resume:
            self._resume()

    # ------------------------------------------------------------------ state
    @property
    def ckpt_dir(self) -> Path:
        return self.out / "checkpoints"

    def _trainer_state(self) -> dict:
        state = {"step": self.step, "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch}
        if self.ema is not None:
            state["ema"] = self.ema.shadow.state_dict()
        return state

    def _models(self) -> list[nn.Module]:
        """The prepared models in Accelerate's order: the files ``model.safetensors``, ``model_1``, ..."""
        return [self.seqG, self.D_I_p] + ([self.D_V_p] if self.D_V_p is not None else []) + \
            ([self.D_face_p] if self.D_face_p is not None else [])

    def _all_ok(self, ok: bool) -> bool:
        """Whether ``ok`` holds on every process (a collective: all processes must call it)."""
        if self.acc.num_processes == 1:
            return ok
        flag = torch.tensor([0.0 if ok else 1.0], device=self.acc.device)
        return float(self.acc.reduce(flag, "max")) == 0.0

    def _tell(self, message: str) -> None:
        """A message for the person running the job, on stderr of the main process."""
        if self.acc.is_main_process:
            print(message, file=sys.stderr, flush=True)

    def _check_data(self, check_data: bool | None) -> None:
        """The pre-flight check of the training files (see ``check_data`` in the class docstring)."""
        from vid2vid.data.check import check_dataset, count_files

        limit = self.cfg.data.check_max_files
        if check_data is None:
            check_data = 0 < count_files(self.dataset) <= limit
        if check_data:  # every process checks (cheap at this size) so that all of them stop together
            summary = check_dataset(self.dataset, progress=self.acc.is_local_main_process)
            self.acc.print(f"data check: {summary}")

    def _claim_out_dir(self, resume: bool, overwrite: bool) -> None:
        """Refuse to start a run over another one; with ``overwrite`` remove the other run's files;
        tidy the temporaries an interrupted write left (:func:`~vid2vid.training.faults.claim_out_dir`)."""
        claim_out_dir(self.out, resume, overwrite, self.acc.is_main_process, wait=self.acc.wait_for_everyone,
                      tell=self._tell)

    def _last_good(self) -> str:
        """Where the run can go back to, for the messages of a stopped run."""
        good = [(s, p) for s, p in list_checkpoints(self.ckpt_dir) if s <= self.step]
        if not good:
            return "no checkpoint was saved before it"
        return f"the last good checkpoint is {good[-1][1]} (step {good[-1][0]})"

    def _diverged(self, what: str) -> TrainingDiverged:
        lr = self.opt_G.param_groups[0]["lr"]
        return TrainingDiverged(
            f"{what}: training has diverged and stopped without saving; {self._last_good()}, generator.pt "
            f"was not touched. Lower train.lr (now {lr:g}) or check the data, then resume from that "
            "checkpoint (--resume) or start again (--overwrite)")

    def _check_weights_finite(self) -> None:
        """Refuse to save NaN or infinite weights (the same on every process, so all raise together)."""
        G = self.acc.unwrap_model(self.seqG).G
        named = [("G", G), ("D_I", self.D_I)] + ([("D_V", self.D_V)] if self.D_V is not None else []) + \
            ([("D_face", self.D_face)] if self.D_face is not None else []) + \
            ([("EMA of G", self.ema.shadow)] if self.ema is not None else [])
        for what, module in named:
            bad = first_nonfinite(module.state_dict().items())
            if bad is not None:
                raise self._diverged(f"step {self.step}: weight {bad} of {what} is not finite")

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step_<N>`` atomically (all processes take part) and export G.

        The folder is filled under a temporary name, every file and the folder are flushed to disk,
        and only then is it renamed into place: neither a kill nor a power cut leaves a visible but
        incomplete checkpoint. Then ``generator.pt`` is replaced, and older checkpoints of this run
        are pruned (``train.keep_checkpoints``; newer ones, such as a damaged one a resume skipped,
        are left). Non-finite weights raise :class:`TrainingDiverged` and nothing is written; a failed
        write raises :class:`~vid2vid.models.io.CheckpointWriteError` after removing the
        temporary folder, leaving the previous checkpoints as they were."""
        name = f"step_{self.step:08d}"
        final, tmp = self.ckpt_dir / name, self.ckpt_dir / f".{name}.tmp"
        main = self.acc.is_main_process
        self._check_weights_finite()
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        error: BaseException | None = None
        try:
            self.acc.save_state(str(tmp))  # each process writes its own RNG state
        except Exception as err:  # a full disk: OSError, RuntimeError, SafetensorError
            error = err
        # every process learns whether all wrote their part before anything is published
        if self._all_ok(error is None) and main:
            try:
                atomic_save(self._trainer_state(), tmp / "trainer.pt")
                (tmp / "config.yaml").write_text(self.cfg.to_yaml())
                fsync_tree(tmp)
            except Exception as err:
                error = err
        if not self._all_ok(error is None):
            if main:
                shutil.rmtree(tmp, ignore_errors=True)
            why = first_sentence(error) if error is not None else "on another process"
            raise CheckpointWriteError(f"{final}: checkpoint write failed (disk full?): {why}") from error
        if main:
            try:
                old = self.ckpt_dir / f".{name}.old"
                shutil.rmtree(old, ignore_errors=True)  # a stale one would block the rename below
                if final.exists():
                    final.rename(old)
                tmp.rename(final)  # the checkpoint becomes visible only when complete
                fsync_dir(self.ckpt_dir)
                shutil.rmtree(old, ignore_errors=True)
                G = self.ema.shadow if self.ema is not None else self.acc.unwrap_model(self.seqG).G
                export_generator(self.out / "generator.pt", self.cfg, G, self.step)
                prune_checkpoints(self.ckpt_dir, self.cfg.train.keep_checkpoints, self.step)
            except Exception as err:
                error = err
        if not self._all_ok(error is None):
            if isinstance(error, CheckpointWriteError | TrainingDiverged):
                raise error
            why = first_sentence(error) if error is not None else "on the main process"
            raise CheckpointWriteError(f"{final}: checkpoint write failed (disk full?): {why}") from error
        self._saved_step = self.step
        return final

    # ------------------------------------------------------------------ resume
    def _resume(self) -> None:
        """Load the newest checkpoint that loads; damaged newer ones are skipped with a warning
        (:func:`~vid2vid.training.checkpoint.load_newest`)."""
        loaded = load_newest(self.ckpt_dir, self._load_checkpoint)
        if loaded is None:
            self.acc.print(f"no checkpoint in {self.ckpt_dir}: starting from scratch")
            return
        ckpt, state = loaded
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_in_epoch = state["batch_in_epoch"]
        if self.acc.num_processes > 1:  # every process must continue from the same step
            steps = self.acc.gather(torch.tensor([self.step], device=self.acc.device)).tolist()
            if len(set(steps)) > 1:
                raise RuntimeError(f"{self.ckpt_dir}: the processes resumed from different steps {steps}")
        check_random_state(ckpt, self.acc.process_index)  # warns naming the caller of Trainer()
        self._saved_step = self.step
        self.acc.print(f"resumed from {ckpt} (step {self.step}, epoch {self.epoch})")

    def _load_checkpoint(self, ckpt: Path) -> dict:
        """Load one checkpoint folder into the models, optimisers, RNGs and EMA; returns trainer.pt.
        A missing, truncated or unreadable file raises
        :class:`~vid2vid.training.checkpoint.DamagedCheckpoint` naming it, weights of another
        configuration :class:`~vid2vid.models.io.CheckpointMismatchError`."""
        try:
            state = safe_load(ckpt / "trainer.pt")
        except (FileNotFoundError, RuntimeError) as err:
            raise DamagedCheckpoint(first_sentence(err)) from err
        if not isinstance(state, dict) or not {"step", "epoch", "batch_in_epoch"} <= set(state):
            raise DamagedCheckpoint(f"{ckpt / 'trainer.pt'}: expected the keys step, epoch, batch_in_epoch")
        self._check_model_files(ckpt)
        try:
            self.acc.load_state(str(ckpt))
        except Exception as err:
            bad = damaged_file(ckpt)
            if bad is not None:
                raise DamagedCheckpoint(bad) from err
            why = first_sentence(err)
            raise RuntimeError(f"{ckpt}: the training state could not be loaded ({why})") from err
        if self.ema is not None and "ema" in state:
            self.ema.shadow.load_state_dict(state["ema"])
        return state

    def _check_model_files(self, ckpt: Path) -> None:
        """Read the headers of the model files: a truncated one is damaged, shapes that differ from
        the models built from this configuration mean the checkpoint is another configuration's
        (:func:`~vid2vid.training.checkpoint.check_model_files`)."""
        expected = [{k: tuple(v.shape) for k, v in self.acc.unwrap_model(model).state_dict().items()}
                    for model in self._models()]
        check_model_files(ckpt, expected, self.cfg)

    # ------------------------------------------------------------------ one step
    def _prepare_batch(self, batch: dict) -> dict:
        if self.flow_estimator is not None:  # estimate the "ground-truth" flow on the fly
            flows = [self.flow_estimator.estimate_sequence(seq) for seq in batch["image"]]
            batch["flow"] = torch.stack(flows).to(batch["image"])
            valid = torch.ones(batch["flow"].shape[:2], dtype=torch.bool, device=batch["flow"].device)
            valid[:, 0] = False
            batch["flow_valid"] = valid
        if "flow" not in batch:
            raise RuntimeError("training needs ground-truth flow: write it with `python -m vid2vid flow "
                               f"--data {self.cfg.data.root}` or set data.flow_source to dis or raft")
        return batch

    def _background_masks(self, batch: dict) -> torch.Tensor | None:
        """``m_B [B, T, 1, H, W]`` from the label ids, or None (G computes it from one-hot labels)."""
        if not (self.cfg.model.use_fg_prior and "label_ids" in batch):
            return None
        ids = batch["label_ids"]
        return background_mask(ids.flatten(0, 1), self.cfg.data.foreground_ids).reshape(
            *ids.shape[:2], 1, *ids.shape[3:])

    def _regions(self, batch: dict) -> torch.Tensor | None:
        """The region keys ``int64 [B, T, 1, H, W]`` the feature encoder pools over (instances, else
        classes, else whole frames: :func:`~vid2vid.models.feature_encoder.region_keys`), or None
        without a feature encoder."""
        if self.cfg.model.feat_nc <= 0:
            return None
        return region_keys(batch.get("label_ids"), batch.get("inst"), like=batch["image"])

    def warmup_batch(self, batch: dict) -> dict[str, float]:
        """One update of the flow warm-up (``train.flow_warmup``): the flow branch W alone, on real frames.

        Every frame t >= L of the window (those with a full history) is generated from its labels
        ``s_{t-L..t}`` and the *real* previous frames ``x_{t-L..t-1}``, all in one forward; the loss
        is the first term of ``L_W`` alone, the confidence-masked L1 to the ground-truth flow
        (``G_flow``). No discriminator is involved, so the flow head learns the motion before the
        adversarial game starts rather than while it competes with it. The warp term is left out:
        its gradient reaches the flow through bilinear sampling and only points the right way within
        about a pixel of the true flow, so from a zero flow and motion of several pixels it pulls
        towards nearby texture matches. Where the mask learns the true occlusion
        (``loss.mask_target`` "occlusion"), the mask head, which shares the flow branch, learns it
        here too (``G_mask``): the GAN steps then start from a mask that copies the warped pixels
        where they are visible rather than from one that hallucinates everywhere.
        """
        batch = self._prepare_batch(batch)
        labels, real, flow, flow_valid = batch["label"], batch["image"], batch["flow"], batch["flow_valid"]
        T, L = labels.shape[1], self.cfg.model.n_prev
        if T <= L or not L:
            raise ValueError(f"the flow warm-up needs windows of more than L = {L} frames, got {T} "
                             "(train.n_frames_start)")
        m_B = self._background_masks(batch)
        # Frames with fewer than L real predecessors (a sequence's second frame) are left out: the
        # warm-up teaches the motion from a full history of real frames.
        ts = range(L, T)
        lab = torch.cat([label_window(labels, t, L) for t in ts])  # [N, L+1, C_s, H, W], N = B (T-L)
        prev = torch.cat([real[:, t - L:t] for t in ts])  # [N, L, 3, H, W]: real x_{t-L..t-1}
        mb = None if m_B is None else torch.cat([label_window(m_B, t, L) for t in ts])
        regions, real_w = self._regions(batch), None
        if regions is not None:  # the feature encoder sees the real frames of the same windows
            real_w = torch.cat([label_window(real, t, L) for t in ts])
            regions = torch.cat([label_window(regions, t, L) for t in ts])
        gen = self.seqG(lab, mb, prev, L, L + 1, real=real_w, regions=regions)
        real_t, real_p = torch.cat([real[:, t] for t in ts]), torch.cat([real[:, t - 1] for t in ts])
        flow_t = torch.cat([flow[:, t] for t in ts])
        valid = torch.cat([flow_valid[:, t] for t in ts]).to(real.dtype).reshape(-1, 1, 1, 1)
        conf = flow_confidence(real_t, real_p, flow_t) * valid
        lam = self.objective.lambda_flow
        loss = lam * flow_loss(gen.w[:, 0], flow_t, conf)
        logs = {"G_flow": float(loss.detach())}
        if "occlusion" in batch:  # loss.mask_target "occlusion": the mask head learns it alongside
            occ = torch.cat([batch["occlusion"][:, t] for t in ts])
            mask = self.cfg.loss.lambda_mask * occlusion_mask_loss(gen.m[:, 0], occ, valid)
            logs["G_mask"] = float(mask.detach())
            loss = loss + mask
        self.acc.backward(loss)
        self.opt_G.step()
        self.opt_G.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update(self.acc.unwrap_model(self.seqG).G)
        # the same loss for a zero flow (no motion): the level a head that has learned nothing scores
        zero = lam * flow_loss(torch.zeros_like(flow_t), flow_t, conf)
        return {**logs, "G_flow_zero": float(zero)}

    def _flow_sweep(self, epoch: int, what: str, first_update: int):
        """One pass over the training windows as epoch ``epoch`` (the flow warm-up's and refinement's
        window choices, apart from the GAN epochs'), one :meth:`warmup_batch` update per batch; yields
        each update's losses, averaged over the processes so that every process decides on the same
        numbers. A non-finite loss raises :class:`TrainingDiverged` naming ``what`` and the update
        (counted from ``first_update``)."""
        self.dataset.set_epoch(epoch)
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)
        acc = self.acc
        for update, batch in enumerate(self.loader, start=first_update):
            logs = {k: float(acc.reduce(torch.tensor(v, device=acc.device), "mean"))
                    for k, v in self.warmup_batch(batch).items()}
            bad = [k for k, v in logs.items() if not math.isfinite(v)]
            if bad:
                raise self._diverged(f"{what} update {update}: loss {bad[0]} = {logs[bad[0]]} is not finite")
            yield logs

    def warm_up_flow(self, updates: int | None = None, stop_early: bool = True) -> bool:
        """Run up to ``updates`` (default ``train.flow_warmup``) updates of :meth:`warmup_batch`, on
        windows of ``train.n_frames_start`` frames, in a fresh run only (step 0); logs go to
        ``<out>/warmup.jsonl``. They do not count as training steps: the learning-rate schedule and
        the curricula start after them. A second call continues where the first stopped.

        When the flow head learns the motion is a matter of chance (a sudden drop after a few hundred
        to a thousand or more updates), so with ``stop_early`` the warm-up ends as soon as the flow
        loss summed over the last ``WARMUP_WINDOW`` updates is below ``train.flow_warmup_target``
        times a zero flow's on the same windows. Returns whether that level was reached (at the end).
        """
        from collections import deque

        from tqdm import tqdm

        acc, t = self.acc, self.cfg.train
        n = t.flow_warmup if updates is None else updates
        if n <= 0 or not self.cfg.model.use_flow or self.step > 0:
            return False
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        self.dataset.set_n_frames(t.n_frames_start)
        bar = tqdm(total=n, disable=not acc.is_local_main_process, desc="flow warm-up")
        target, t0 = self.warmup_updates + n, time.time()
        recent: deque[tuple[float, float]] = deque(maxlen=WARMUP_WINDOW)
        reached = stop = False
        while self.warmup_updates < target and not stop:
            sweep = WARMUP_EPOCHS + self.warmup_sweeps
            self.warmup_sweeps += 1
            for logs in self._flow_sweep(sweep, "flow warm-up", self.warmup_updates + 1):
                self.warmup_updates += 1
                recent.append((logs["G_flow"], logs["G_flow_zero"]))
                ratio = sum(a for a, _ in recent) / max(sum(z for _, z in recent), 1e-12)
                reached = len(recent) == WARMUP_WINDOW and ratio < t.flow_warmup_target
                stop = self.warmup_updates >= target or (reached and stop_early)
                bar.update(1)
                bar.set_postfix({"G_flow / zero flow": f"{ratio:.2f}"})
                if self.warmup_updates % max(1, t.log_every) == 0 or self.warmup_updates == 1 or stop:
                    if acc.is_main_process:
                        with open(self.out / "warmup.jsonl", "a") as f:
                            row = {**logs, "ratio": ratio, "update": self.warmup_updates,
                                   "seconds": time.time() - t0}
                            f.write(json.dumps(row) + "\n")
                if stop:
                    break
        bar.close()
        if stop_early:
            what = ("reached" if reached else "NOT reached: the flow head has not learned the motion yet; "
                    "raise train.flow_warmup")
            acc.print(f"flow warm-up: {self.warmup_updates} updates in {time.time() - t0:.0f} s; flow loss "
                      f"{ratio:.2f} of a zero flow's over the last {len(recent)} updates, target "
                      f"{t.flow_warmup_target} {what}")
        return reached

    def refine_flow(self, updates: int, lr: float | None = None) -> dict[str, float]:
        """``updates`` more updates of the flow branch alone (:meth:`warmup_batch`'s flow and mask
        losses on real frames), with the learning rate decayed linearly from ``lr`` (default
        ``train.lr``) to zero; logs go to ``<out>/flow_refine.jsonl``. Returns the last update's losses.

        Only for a flow branch that nothing of the adversarial game reaches: ``model.flow_branch``
        "labels" with ``model.flow_detach`` and ``model.mask_detach``. W and M then read the labels
        alone and learn only from the true flow and occlusion, a supervised regression of their own,
        so their training can go on after the GAN steps without changing what the rest of the
        generator learned from; on the synthetic videos their error keeps falling long after the
        GAN phase's budget (and faster on more videos than the GAN needs). Any other branch is
        refused: its W and M share features with, or were trained by, the GAN terms.
        """
        m = self.cfg.model
        if not (m.use_flow and m.flow_branch == "labels" and m.flow_detach and m.mask_detach):
            raise ValueError("refining the flow branch after training needs a branch the GAN does not "
                             "reach: model.flow_branch=labels, model.flow_detach=true and "
                             f"model.mask_detach=true; this generator has flow_branch={m.flow_branch!r}, "
                             f"flow_detach={m.flow_detach}, mask_detach={m.mask_detach}")
        if updates <= 0:
            raise ValueError(f"refine_flow needs at least one update, got {updates}")
        lr0 = self.cfg.train.lr if lr is None else lr
        if self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
        self.dataset.set_n_frames(self.cfg.train.n_frames_start)
        done, sweep, t0, logs = 0, 0, time.time(), {}

        def set_rate() -> float:  # before each update: linear from lr0 to 0
            rate = lr0 * (1 - done / updates)
            for group in self.opt_G.param_groups:
                group["lr"] = rate
            return rate

        rate = set_rate()
        while done < updates:
            # window choices apart from the epochs' and the warm-up's
            for logs in self._flow_sweep(2 * WARMUP_EPOCHS + sweep, "flow refinement", done + 1):
                done += 1
                logged = done % max(1, self.cfg.train.log_every) == 0 or done == updates
                if self.acc.is_main_process and logged:
                    with open(self.out / "flow_refine.jsonl", "a") as f:
                        f.write(json.dumps({**logs, "update": done, "lr": rate,
                                            "seconds": time.time() - t0}) + "\n")
                if done == updates:
                    break
                rate = set_rate()
            sweep += 1
        return logs

    def train_batch(self, batch: dict) -> dict[str, float]:
        """One step on a batch of windows: every chunk is one G update and one D update."""
        cfg, acc = self.cfg, self.acc
        batch = self._prepare_batch(batch)
        labels, real, flow, flow_valid = batch["label"], batch["image"], batch["flow"], batch["flow_valid"]
        m_B = self._background_masks(batch)
        regions = self._regions(batch)
        T, L, chunk = labels.shape[1], cfg.model.n_prev, max(1, cfg.train.chunk_length)
        K, S = cfg.model.n_frames_D, cfg.model.n_temporal_scales
        context = max(1, (K - 1) * K ** max(0, S - 1))  # earlier frames D_V and the warp losses need
        if cfg.train.real_first_frames and L and T > L:
            start, fake = L, real[:, :L]
        else:
            start, fake = 0, real[:, :0]
        prev = fake[:, -L:] if start else None
        sums: dict[str, float] = {}
        n_chunks = 0
        for c0 in range(start, T, chunk):
            c1 = min(T, c0 + chunk)
            with record_function("G rollout"):
                gen = self.seqG(labels, m_B, prev, c0, c1, real=real if regions is not None else None,
                                regions=regions)
            h0 = max(0, c0 - context)
            c = Chunk(labels=labels[:, c0:c1], real=real[:, h0:c1],
                      fake=torch.cat([fake[:, h0:c0], gen.x], 1), flow=flow[:, h0:c1],
                      flow_valid=flow_valid[:, h0:c1], gen=gen, history=c0 - h0,
                      occlusion=batch["occlusion"][:, h0:c1] if "occlusion" in batch else None,
                      face_box=batch["face_box"][:, c0:c1] if "face_box" in batch else None,
                      face_valid=batch["face_valid"][:, c0:c1] if "face_valid" in batch else None)
            # G's step reads the plain discriminators (same weights on every process), frozen:
            # no D gradients are computed and D's DDP reducer sees one forward per backward.
            with _frozen(self.D_I, self.D_V, self.D_face):
                with record_function("G losses"):
                    g_losses = self.objective.generator_losses(c, self.D_I, self.D_V, self.D_face)
                with record_function("G backward"):
                    acc.backward(sum(g_losses.values()))
            with record_function("optimiser steps"):
                self.opt_G.step()
            self._partial = True  # an error from here on leaves this step half done
            self.opt_G.zero_grad(set_to_none=True)
            with record_function("D losses"):
                d_losses = self.objective.discriminator_losses(c, self.D_I_p, self.D_V_p, self.D_face_p)
            with record_function("D backward"):
                acc.backward(sum(d_losses.values()))
            with record_function("optimiser steps"):
                self.opt_D.step()
            self.opt_D.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(acc.unwrap_model(self.seqG).G)
            fake = torch.cat([fake, gen.x.detach()], 1)
            prev = fake[:, -L:] if L else None
            for k, v in {**g_losses, **d_losses}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n_chunks += 1
        return {k: v / max(1, n_chunks) for k, v in sums.items()}

    # ------------------------------------------------------------------ the loop
    def _schedule_epoch(self, step: int | None = None) -> float:
        """Where ``step`` (default: the next step) lies on the recipe's timeline of ``niter +
        niter_decay`` epochs: the epoch (pass over the data, ``len(self.loader)`` steps each), or with
        ``train.total_steps`` the step's share of the budget
        (:func:`~vid2vid.training.schedule.schedule_epoch`)."""
        t = self.cfg.train
        if t.total_steps > 0:
            return schedule_epoch(self.step if step is None else step, t.total_steps, t.niter, t.niter_decay)
        return self.epoch if step is None else step // max(1, len(self.loader))

    def window_length_at(self, step: int | None = None) -> int:
        """Frames per training window at ``step`` (0-based; default: the next step) as the temporal
        curriculum plans it."""
        t = self.cfg.train
        return sequence_length(self._schedule_epoch(step), t.n_frames_start, t.n_frames_total, t.niter_step)

    def planned_steps(self) -> int:
        """The steps this run ends at: the recipe's epochs, or ``train.total_steps``, or ``max_steps``."""
        steps = self.cfg.train.total_steps or self.total_epochs * len(self.loader)
        return min(steps, self.max_steps or steps)

    def planned_frames(self, start: int, stop: int) -> int:
        """Frames of the training windows of steps ``start .. stop - 1``, over all processes: the
        unit of the progress bar. A step costs about in proportion to its window's frames, and the
        temporal curriculum makes late windows several times longer than early ones (4 -> 16 frames
        in the ``synthetic`` preset), so counting steps would promise an end far too early."""
        return self.global_batch * sum(self.window_length_at(s) for s in range(start, stop))

    def banner(self, samples: bool = True) -> str:
        """What the run is about to do, in a few lines for the person who started it: preset, device,
        processes, threads, precision, steps and frames, data, samples (``samples``: a ``sample_fn``
        will be given to :meth:`fit`) and output folder."""
        cfg, acc, t = self.cfg, self.acc, self.cfg.train
        threads = torch.get_num_threads()
        omp = os.environ.get("OMP_NUM_THREADS")
        why = f"OMP_NUM_THREADS={omp}" if omp else "torch's default; OMP_NUM_THREADS sets it"
        precision = {"no": "fp32"}.get(acc.mixed_precision, f"mixed {acc.mixed_precision}")
        precision += f" ({self.precision_reason})"
        if t.compile:
            precision += "; torch.compile: the first steps compile"
        if t.speed_rewrites:
            precision += f"; speed rewrites {t.speed_rewrites}"
        G = acc.unwrap_model(self.seqG).G
        n_params = sum(p.numel() for p in G.parameters())
        steps, full = self.planned_steps(), t.total_steps or self.total_epochs * len(self.loader)
        windows = sorted({self.window_length_at(s) for s in range(steps)}) or [self.dataset.n_frames]
        if steps < full:
            plan = f"{steps} of the schedule's {full} steps (max_steps)"
        elif t.total_steps > 0:
            plan = f"{steps} steps (train.total_steps)"
        else:
            plan = f"{steps} steps ({self.total_epochs} epochs of {len(self.loader)})"
        warmup = (f"flow warm-up of at most {t.flow_warmup} updates, then "
                  if t.flow_warmup > 0 and cfg.model.use_flow and self.step == 0 else "")
        start = f"; resuming at step {self.step}" if self.step else ""
        if not samples:
            sampled = "none"
        elif t.sample_every:
            sampled = f"after the first step, every {t.sample_every} steps and at the end"
        else:
            sampled = "at the end (train.sample_every=0)"
        sampled += f", in {self.out / 'samples'}" if samples else ""
        n = acc.num_processes
        lines = [
            f"vid2vid training: preset {cfg.preset}, G {n_params / 1e6:.2f} M parameters, "
            f"{cfg.data.height} x {cfg.data.width} frames",
            f"  device    {acc.device}, {n} process{'es' if n > 1 else ''}, {threads} "
            f"thread{'s' if threads > 1 else ''} per process ({why}), precision {precision}",
            f"  data      {cfg.data.root}: {len(self.dataset.sequences)} training sequences, "
            f"batch {self.global_batch}, windows of {' -> '.join(map(str, windows))} frames",
            f"  schedule  {warmup}{plan}: {self.planned_frames(0, steps)} frames{start}",
            f"  samples   {sampled}",
            f"  output    {self.out} (checkpoints every {t.checkpoint_every} steps, generator.pt, log.jsonl)",
        ]
        return "\n".join(lines)

    def _set_epoch(self, epoch: int) -> None:
        """Start pass ``epoch`` over the data: its shuffle, its window length, the schedule."""
        self.dataset.set_epoch(epoch)
        self.dataset.set_n_frames(self.window_length_at())
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)
        self._set_schedule()

    def _set_schedule(self) -> None:
        """The learning rates and the frozen coarse scales at the next step: per epoch, or per step
        with ``train.total_steps``."""
        t = self.cfg.train
        epoch = self._schedule_epoch()
        f = lr_factor(epoch, t.niter, t.niter_decay)
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * f
        G = self.acc.unwrap_model(self.seqG).G
        if G.n_scales > 1 and t.coarse_checkpoint:
            G.freeze_coarse(coarse_frozen(epoch, 0, t.niter_fix_global))

    def _done(self) -> bool:
        t = self.cfg.train
        return (self.max_steps is not None and self.step >= self.max_steps) or \
            (t.total_steps > 0 and self.step >= t.total_steps)

    def fit(self, sample_fn=None) -> list[dict[str, float]]:
        """Train until the recipe's last epoch or ``train.total_steps`` (or ``max_steps``); returns the
        logged history.

        Every step's losses are checked: a NaN or an infinity raises :class:`TrainingDiverged` (the
        good checkpoints stay). SIGINT / SIGTERM save a checkpoint after the current step and raise
        :class:`TrainingInterrupted` / :class:`TrainingTerminated`; another error saves the steps done
        since the last checkpoint (single process) and propagates. The flow warm-up before the first
        step is not checkpointed: a signal there stops it at once, as before. ``log.jsonl`` is first
        cut back to the current step (a resumed run logs the steps it trains again anew).

        ``sample_fn(trainer)`` (e.g. :func:`vid2vid.samples.write_samples`) writes samples on the main
        process: with ``train.sample_every = N > 0`` after the first step of the call and every ``N``
        steps, and always at the end. The progress bar counts the frames of the training windows
        (:meth:`planned_frames`), so its estimate of the time left holds while the windows grow; the
        step is shown beside it. It is a text bar (plain ``tqdm``, not a notebook widget), so a saved
        notebook shows where it ended."""
        from tqdm import tqdm

        acc = self.acc
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(self.cfg.to_yaml())
            dropped = trim_log(self.out / "log.jsonl", self.step)
            if dropped:
                self._tell(f"{self.out / 'log.jsonl'}: dropped {dropped} rows after step {self.step} "
                           "(steps trained again after the resume)")
        self._write_run_info()
        if acc.trackers == [] and acc.log_with:
            acc.init_trackers("vid2vid", config=_flat_config(self.cfg))
        self.warm_up_flow()
        total = self.planned_steps()
        bar = tqdm(total=self.planned_frames(0, total), initial=self.planned_frames(0, self.step),
                   unit="frame", disable=not acc.is_local_main_process, desc="train",
                   postfix={"step": f"{self.step}/{total}"})
        stop = StopSignals()
        try:
            with stop:
                signum = self._train_loop(bar, total, sample_fn, stop)
                # a signal during the last step or its saves is honoured too (on this process)
                signum = signum or stop.signum
                if self.step != self._saved_step or not (self.ckpt_dir / f"step_{self.step:08d}").exists():
                    self.save_checkpoint()  # inside: a signal now cannot cut the save short
        except (TrainingDiverged, CheckpointWriteError):
            raise  # nothing worth saving, or saving is what failed
        except Exception as err:
            self._save_after_error(err)
            raise
        finally:
            bar.close()
        if signum is not None:
            acc.end_training()
            name = signal.Signals(signum).name
            ckpt = self.ckpt_dir / f"step_{self.step:08d}"
            message = (f"{name}: training stopped at step {self.step}; checkpoint {ckpt} saved, continue "
                       "with resume=True (--resume)")
            self._tell(message)
            if signum == signal.SIGINT:
                raise TrainingInterrupted(message, self.step, ckpt)
            raise TrainingTerminated(message, self.step, ckpt)
        if sample_fn is not None and acc.is_main_process and self._sampled_step != self.step:
            sample_fn(self)
            self._sampled_step = self.step
        acc.end_training()
        return self.history

    def _train_loop(self, bar, total: int, sample_fn, stop: StopSignals) -> int | None:
        """The epochs of :meth:`fit`; returns the signal that asked every process to stop, or None.

        With ``train.total_steps`` the passes over the data go on until that step; the learning rate
        follows every step, and a pass ends early when the window is to grow (the loader's items
        have one length per pass), so the next pass starts with the longer windows."""
        acc, t = self.acc, self.cfg.train
        t0, first_step = time.time(), self.step + 1
        shown: dict[str, str] = {}  # the losses on the progress bar, from the last logged step
        while (t.total_steps > 0 or self.epoch < self.total_epochs) and not self._done():
            self._set_epoch(self.epoch)
            loader = self.loader
            if self.batch_in_epoch:
                loader = acc.skip_first_batches(self.loader, self.batch_in_epoch)
            for batch in loader:
                self._partial = False
                if t.total_steps > 0:
                    self._set_schedule()
                logs = self.train_batch(batch)
                logs, signum = self._reduce_step(logs, stop)
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                if bad:
                    also = f" (also {', '.join(bad[1:4])})" if len(bad) > 1 else ""
                    raise self._diverged(f"step {self.step + 1}: loss {bad[0]} = {logs[bad[0]]} is not "
                                         f"finite{also}")
                self.step += 1
                self.batch_in_epoch += 1
                self._partial = False
                if self.step % max(1, t.log_every) == 0 or self.step == 1:
                    logs.update(step=self.step, epoch=self.epoch, seconds=time.time() - t0,
                                lr=self.opt_G.param_groups[0]["lr"])
                    self.history.append(logs)
                    shown = {k: f"{v:.3g}" for k, v in logs.items() if k.startswith(("G_GAN", "D_r"))
                             or k in ("G_flow", "G_feat")}
                    acc.log({k: v for k, v in logs.items() if k != "step"}, step=self.step)
                    if acc.is_main_process:
                        with open(self.out / "log.jsonl", "a") as f:
                            f.write(json.dumps(logs) + "\n")
                # the window grows at the next step: a new pass starts with it (decided before the
                # checkpoint below, so that a resume starts that pass too)
                new_pass = t.total_steps > 0 and self.window_length_at() != self.dataset.n_frames
                if new_pass:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                bar.set_postfix({"step": f"{self.step}/{total}", "T": self.dataset.n_frames, **shown},
                                refresh=False)
                bar.update(self.global_batch * self.dataset.n_frames)  # this step's window frames
                if sample_fn is not None and t.sample_every and acc.is_main_process \
                        and (self.step % t.sample_every == 0 or self.step == first_step):
                    sample_fn(self)
                    self._sampled_step = self.step
                if self.step % max(1, t.checkpoint_every) == 0:
                    self.save_checkpoint()
                if t.snapshot_every and self.step % t.snapshot_every == 0 and acc.is_main_process:
                    G = self.ema.shadow if self.ema is not None else acc.unwrap_model(self.seqG).G
                    snapshot = self.out / "snapshots" / f"step_{self.step:08d}.pt"
                    export_generator(snapshot, self.cfg, G, self.step)
                if signum is not None:
                    return signum
                if self._done() or new_pass:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
        return None

    def _reduce_step(self, logs: dict[str, float], stop: StopSignals) -> tuple[dict[str, float], int | None]:
        """One collective per step: the losses averaged over the processes (what is checked and
        logged) and whether any process was asked to stop (SIGINT before SIGTERM): a flag's mean is
        above 0 when one process has it, so every process takes the same decision at the same step."""
        acc = self.acc
        flags = [float(stop.signum == signal.SIGINT), float(stop.signum == signal.SIGTERM)]
        values = acc.reduce(torch.tensor([*logs.values(), *flags], device=acc.device), "mean").tolist()
        sigint, sigterm = values[-2:]
        signum = signal.SIGINT if sigint > 0 else signal.SIGTERM if sigterm > 0 else None
        return dict(zip(logs, values[:-2], strict=True)), signum

    def _save_after_error(self, err: BaseException) -> None:
        """After an error in the loop, save the steps done since the last checkpoint (never
        non-finite weights). Only a single process can: the others of a group would wait elsewhere."""
        done = f"{type(err).__name__} during step {self.step + 1}"
        if self.acc.num_processes > 1:
            self._tell(f"{done}: no checkpoint saved (the other processes cannot join a save after an "
                       f"error); {self._last_good()}")
            return
        if self.step == self._saved_step:
            return  # nothing new since the last checkpoint (which a half-done step must not replace)
        try:
            path = self.save_checkpoint()
        except Exception as save_err:
            self._tell(f"{done}: could not save a checkpoint ({first_sentence(save_err)}); "
                       f"{self._last_good()}")
            return
        note = (" (the failed step had already updated some weights, so resuming will not repeat an "
                "uninterrupted run exactly)" if self._partial else "")
        self._tell(f"{done}: saved {path} (step {self.step}) before stopping{note}; continue with "
                   "resume=True (--resume)")

    def _write_run_info(self) -> None:
        """Record the process group: every rank's index, gathered (two independent rank-0 runs would
        each see only themselves)."""
        acc = self.acc
        ranks = acc.gather(torch.tensor([acc.process_index], device=acc.device)).cpu().tolist()
        world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
        if acc.is_main_process:
            info = {"num_processes": acc.num_processes, "ranks": ranks, "world_size": world,
                    "distributed_type": str(acc.distributed_type), "device": str(acc.device),
                    "mixed_precision": acc.mixed_precision, "dataset_items": len(self.dataset),
                    "steps_per_epoch": len(self.loader)}
            (self.out / "run_info.json").write_text(json.dumps(info, indent=2))


@contextlib.contextmanager
def _frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Temporarily stop gradients to the parameters of ``modules``."""
    params = [p for m in modules if m is not None for p in m.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _flat_config(cfg: Config) -> dict:
    out = {}
    for section, values in cfg.to_dict().items():
        if isinstance(values, dict):
            for k, v in values.items():
                out[f"{section}.{k}"] = v if isinstance(v, (int, float, str, bool)) else str(v)
        else:
            out[section] = values
    return out


