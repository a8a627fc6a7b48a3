"""The vid2vid training loop with Accelerate: one CPU process to many GPUs, same code.

Shape of a step (one batch of training windows ``[B, T, ...]``), PAPER.md section 3:

- frames are generated in order, each output fed back as a previous frame of the next;
- truncated back-propagation: the window is cut into chunks of ``train.chunk_length`` frames;
  each chunk is one generator update then one discriminator update, and the frames carried
  over into the next chunk are detached;
- ``D_I`` judges every new frame (and its raw hallucination); ``D_V`` judges every K-frame clip
  that ends in the chunk, at every temporal scale;
- Adam for G and for D with the reference's betas, constant then linearly decayed learning rate,
  optional TTUR; temporal curriculum (window length doubles every ``niter_step`` epochs) and
  spatial curriculum (coarser scales frozen ``niter_fix_global`` epochs after a finer one is added);
  an optional EMA of G; mixed precision through Accelerate.

Checkpoints: ``<out>/checkpoints/step_<N>/`` holds Accelerate's state (models, optimisers, RNG
states of every process) and ``trainer.pt`` (step, epoch, position in the epoch, EMA); it is
written under a temporary name and renamed when complete, every ``checkpoint_every`` steps and
at exit. ``<out>/generator.pt`` (config + generator weights, the EMA when there is one) is what
``python -m vid2vid generate`` reads; ``train.snapshot_every`` also keeps copies of it along the
way (``<out>/snapshots/step_<N>.pt``, to see how quality grows). Only the main process writes files.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from vid2vid.config import Config
from vid2vid.data.folder import VideoFolderDataset
from vid2vid.flow import flow_confidence, get_flow_estimator
from vid2vid.losses import flow_loss, occlusion_mask_loss
from vid2vid.models import background_mask, build_discriminators, build_generator
from vid2vid.models.sequence import SequenceGenerator, label_window
from vid2vid.training.checkpoint import atomic_save, latest_checkpoint, safe_load
from vid2vid.training.ema import EMA
from vid2vid.training.objective import AllTemporalScales, Chunk, Objective
from vid2vid.training.schedule import coarse_frozen, lr_factor, sequence_length

__all__ = ["Trainer", "build_dataset", "export_generator", "load_generator"]

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
    )


def export_generator(path: str | Path, cfg: Config, G: nn.Module, step: int) -> Path:
    """Write the inference checkpoint: ``{"config": dict, "generator": state_dict, "step": int}``."""
    state = {k: v.detach().cpu() for k, v in G.state_dict().items()}
    return atomic_save({"config": cfg.to_dict(), "generator": state, "step": int(step)}, path)


def load_generator(path: str | Path, map_location="cpu"):
    """Load an inference checkpoint safely (``weights_only=True``): returns ``(cfg, G, step)``."""
    ckpt = safe_load(path, map_location=map_location)
    if not isinstance(ckpt, dict) or "config" not in ckpt or "generator" not in ckpt:
        raise RuntimeError(f"{path}: not a vid2vid generator checkpoint (expected keys 'config', "
                           f"'generator'; found {sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt)})")
    cfg = Config.from_dict(ckpt["config"], where=str(path))
    G = build_generator(cfg)
    G.load_state_dict(ckpt["generator"])
    return cfg, G.eval(), int(ckpt.get("step", 0))


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
        resume: continue from the latest complete checkpoint in ``out_dir`` (if any).
        max_steps: stop after this many steps in total (smoke runs, tests); None = the recipe's epochs.
        accelerator: an ``accelerate.Accelerator``; one is made from the config when None.
    """

    def __init__(self, cfg: Config, out_dir: str | Path, resume: bool = False, max_steps: int | None = None,
                 accelerator=None, log_with: str | None = "tensorboard"):
        from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
        from accelerate.utils import set_seed

        self.cfg, self.out = cfg, Path(out_dir)
        self.max_steps = max_steps
        if accelerator is None:
            _release_single_process_state()
        self.acc = accelerator or Accelerator(
            cpu=use_cpu(), mixed_precision=cfg.train.mixed_precision,
            log_with=log_with, project_dir=str(self.out / "logs"),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
            # the first frame of a sequence uses no flow head, a frozen coarse scale no coarse weights
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        check_process_group(self.acc.num_processes)
        set_seed(cfg.train.seed)
        t = cfg.train

        self.G = build_generator(cfg)
        if t.coarse_checkpoint:
            self.G.load_coarser(safe_load(t.coarse_checkpoint)["generator"])
        self.D_I, D_V = build_discriminators(cfg)
        self.D_V = AllTemporalScales(D_V) if D_V is not None else None
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
        self.opt_G = torch.optim.Adam([{"params": list(self.G.parameters()), "base_lr": lr_G}], lr=lr_G,
                                      betas=betas)
        self.opt_D = torch.optim.Adam([{**g, "lr": g["base_lr"]} for g in d_groups], lr=lr_D, betas=betas)

        self.dataset = build_dataset(cfg, "train", training=True)
        per_process = max(1, t.batch_size // self.acc.num_processes)
        loader = torch.utils.data.DataLoader(self.dataset, batch_size=per_process, shuffle=True,
                                             num_workers=cfg.data.num_workers, drop_last=False)
        self.flow_estimator = None
        if cfg.data.flow_source != "folder":
            self.flow_estimator = get_flow_estimator(cfg.data.flow_source)

        seqG = SequenceGenerator(self.G)
        modules = [seqG, self.D_I] + ([self.D_V] if self.D_V is not None else [])
        prepared = self.acc.prepare(*modules, self.opt_G, self.opt_D, loader)
        self.seqG, self.D_I_p = prepared[0], prepared[1]
        self.D_V_p = prepared[2] if self.D_V is not None else None
        self.opt_G, self.opt_D, self.loader = prepared[-3], prepared[-2], prepared[-1]
        self.objective.to(self.acc.device)
        if self.ema is not None:
            self.ema.to(self.acc.device)

        self.step = self.epoch = self.batch_in_epoch = 0
        self.warmup_updates = self.warmup_sweeps = 0  # the flow warm-up's progress (fresh runs only)
        self.total_epochs = t.niter + t.niter_decay
        self.history: list[dict[str, float]] = []
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

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step_<N>`` atomically (all processes take part) and export G."""
        name = f"step_{self.step:08d}"
        final, tmp = self.ckpt_dir / name, self.ckpt_dir / f".{name}.tmp"
        if self.acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp))  # each process writes its own RNG state
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            atomic_save(self._trainer_state(), tmp / "trainer.pt")
            (tmp / "config.yaml").write_text(self.cfg.to_yaml())
            old = self.ckpt_dir / f".{name}.old"
            if final.exists():
                final.rename(old)
            tmp.rename(final)  # the checkpoint becomes visible only when complete
            shutil.rmtree(old, ignore_errors=True)
            keep = max(1, self.cfg.train.keep_checkpoints)
            done = sorted(p for p in self.ckpt_dir.glob("step_*") if p.is_dir())
            for p in done[:-keep]:
                shutil.rmtree(p, ignore_errors=True)
            G = self.ema.shadow if self.ema is not None else self.acc.unwrap_model(self.seqG).G
            export_generator(self.out / "generator.pt", self.cfg, G, self.step)
        self.acc.wait_for_everyone()
        return final

    def _resume(self) -> None:
        ckpt = latest_checkpoint(self.ckpt_dir)
        if ckpt is None:
            self.acc.print(f"no checkpoint in {self.ckpt_dir}: starting from scratch")
            return
        self.acc.load_state(str(ckpt))
        state = safe_load(ckpt / "trainer.pt")
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        if self.ema is not None and "ema" in state:
            self.ema.shadow.load_state_dict(state["ema"])
        self.acc.print(f"resumed from {ckpt} (step {self.step}, epoch {self.epoch})")

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
        gen = self.seqG(lab, mb, prev, L, L + 1)
        real_t, real_p = torch.cat([real[:, t] for t in ts]), torch.cat([real[:, t - 1] for t in ts])
        flow_t = torch.cat([flow[:, t] for t in ts])
        valid = torch.cat([flow_valid[:, t] for t in ts]).to(real.dtype).reshape(-1, 1, 1, 1)
        conf = flow_confidence(real_t, real_p, flow_t) * valid
        lam = self.objective.lambda_flow
        loss = lam * flow_loss(gen["w"][:, 0], flow_t, conf)
        logs = {"G_flow": float(loss.detach())}
        if "occlusion" in batch:  # loss.mask_target "occlusion": the mask head learns it alongside
            occ = torch.cat([batch["occlusion"][:, t] for t in ts])
            mask = self.cfg.loss.lambda_mask * occlusion_mask_loss(gen["m"][:, 0], occ, valid)
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

        from tqdm.auto import tqdm

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
            sweep = WARMUP_EPOCHS + self.warmup_sweeps  # window choices apart from the epochs'
            self.dataset.set_epoch(sweep)
            if hasattr(self.loader, "set_epoch"):
                self.loader.set_epoch(sweep)
            self.warmup_sweeps += 1
            for batch in self.loader:
                logs = self.warmup_batch(batch)
                # every process decides on the same numbers
                logs = {k: float(acc.reduce(torch.tensor(v, device=acc.device), "mean"))
                        for k, v in logs.items()}
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

    def train_batch(self, batch: dict) -> dict[str, float]:
        """One step on a batch of windows: every chunk is one G update and one D update."""
        cfg, acc = self.cfg, self.acc
        batch = self._prepare_batch(batch)
        labels, real, flow, flow_valid = batch["label"], batch["image"], batch["flow"], batch["flow_valid"]
        m_B = self._background_masks(batch)
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
            gen = self.seqG(labels, m_B, prev, c0, c1)
            h0 = max(0, c0 - context)
            c = Chunk(labels=labels[:, c0:c1], real=real[:, h0:c1],
                      fake=torch.cat([fake[:, h0:c0], gen["x"]], 1), flow=flow[:, h0:c1],
                      flow_valid=flow_valid[:, h0:c1], gen=gen, history=c0 - h0,
                      occlusion=batch["occlusion"][:, h0:c1] if "occlusion" in batch else None)
            # G's step reads the plain discriminators (same weights on every process), frozen:
            # no D gradients are computed and D's DDP reducer sees one forward per backward.
            with _frozen(self.D_I, self.D_V):
                g_losses = self.objective.generator_losses(c, self.D_I, self.D_V)
                acc.backward(sum(g_losses.values()))
            self.opt_G.step()
            self.opt_G.zero_grad(set_to_none=True)
            d_losses = self.objective.discriminator_losses(c, self.D_I_p, self.D_V_p)
            acc.backward(sum(d_losses.values()))
            self.opt_D.step()
            self.opt_D.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update(acc.unwrap_model(self.seqG).G)
            fake = torch.cat([fake, gen["x"].detach()], 1)
            prev = fake[:, -L:] if L else None
            for k, v in {**g_losses, **d_losses}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            n_chunks += 1
        return {k: v / max(1, n_chunks) for k, v in sums.items()}

    # ------------------------------------------------------------------ the loop
    def _set_epoch(self, epoch: int) -> None:
        t = self.cfg.train
        self.dataset.set_epoch(epoch)
        self.dataset.set_n_frames(sequence_length(epoch, t.n_frames_start, t.n_frames_total, t.niter_step))
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)
        f = lr_factor(epoch, t.niter, t.niter_decay)
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * f
        G = self.acc.unwrap_model(self.seqG).G
        if G.n_scales > 1 and t.coarse_checkpoint:
            G.freeze_coarse(coarse_frozen(epoch, 0, t.niter_fix_global))

    def _done(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    def fit(self, sample_fn=None) -> list[dict[str, float]]:
        """Train until the recipe's last epoch (or ``max_steps``); returns the logged history."""
        from tqdm.auto import tqdm

        acc, t = self.acc, self.cfg.train
        if acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(self.cfg.to_yaml())
        self._write_run_info()
        if acc.trackers == [] and acc.log_with:
            acc.init_trackers("vid2vid", config=_flat_config(self.cfg))
        self.warm_up_flow()
        total = self.max_steps or self.total_epochs * len(self.loader)
        bar = tqdm(total=total, initial=self.step, disable=not acc.is_local_main_process, desc="train")
        last_saved = self.step
        t0 = time.time()
        while self.epoch < self.total_epochs and not self._done():
            self._set_epoch(self.epoch)
            loader = self.loader
            if self.batch_in_epoch:
                loader = acc.skip_first_batches(self.loader, self.batch_in_epoch)
            for batch in loader:
                logs = self.train_batch(batch)
                self.step += 1
                self.batch_in_epoch += 1
                bar.update(1)
                if self.step % max(1, t.log_every) == 0 or self.step == 1:
                    logs = {k: float(acc.reduce(torch.tensor(v, device=acc.device), "mean"))
                            for k, v in logs.items()}
                    logs.update(step=self.step, epoch=self.epoch, seconds=time.time() - t0,
                                lr=self.opt_G.param_groups[0]["lr"])
                    self.history.append(logs)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k.startswith(("G_GAN", "D_r"))
                                     or k in ("G_flow", "G_feat")})
                    acc.log({k: v for k, v in logs.items() if k != "step"}, step=self.step)
                    if acc.is_main_process:
                        with open(self.out / "log.jsonl", "a") as f:
                            f.write(json.dumps(logs) + "\n")
                if sample_fn is not None and t.sample_every and self.step % t.sample_every == 0 \
                        and acc.is_main_process:
                    sample_fn(self)
                if self.step % max(1, t.checkpoint_every) == 0:
                    self.save_checkpoint()
                    last_saved = self.step
                if t.snapshot_every and self.step % t.snapshot_every == 0 and acc.is_main_process:
                    G = self.ema.shadow if self.ema is not None else acc.unwrap_model(self.seqG).G
                    snapshot = self.out / "snapshots" / f"step_{self.step:08d}.pt"
                    export_generator(snapshot, self.cfg, G, self.step)
                if self._done():
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
        bar.close()
        if self.step != last_saved or not (self.ckpt_dir / f"step_{self.step:08d}").exists():
            self.save_checkpoint()
        if sample_fn is not None and acc.is_main_process:
            sample_fn(self)
        acc.end_training()
        return self.history

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


