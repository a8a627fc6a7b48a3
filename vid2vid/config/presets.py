"""The named presets: each a function that returns a :class:`~vid2vid.config.schema.Config` with
what its recipe changes from the defaults (the reference Cityscapes 512 recipe).

    tiny, synthetic                            CPU-sized: tests, notebooks, the built-in dataset
    cityscapes-512, -1024, -2048               the street recipe's three spatial stages
    face-512                                   edge-to-face
    pose-256, -512, -1024                      pose-to-body's three stages

``get_preset(name)`` returns a fresh, validated copy; ``PRESETS`` maps the names to the functions.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

from vid2vid.config.schema import Config, ConfigError

__all__ = ["PRESETS", "get_preset", "unknown_preset_message"]


def _cityscapes_512() -> Config:
    """Reference street recipe at 512 x 256: ngf 128, 3 downsamplings, 9 blocks (5 + 4), foreground
    branch, num_D 2, 1 spatial scale, Adam 2e-4, 10 + 10 epochs, 6 frames doubling every 5 epochs,
    2 frames per chunk (scripts/street/train_512.sh of the reference)."""
    return Config(preset="cityscapes-512")


def _cityscapes_1024() -> Config:
    """Second stage: a finer scale on top of the trained 512 model (the reference code's recipe): 2 spatial
    scales, num_D 3, lr 1e-4, 4 frames doubling every 2 epochs, the coarse scale frozen 10 epochs."""
    c = _cityscapes_512()
    c.preset = "cityscapes-1024"
    c.data.height, c.data.width = 512, 1024
    c.model.n_scales, c.model.num_D = 2, 3
    c.train.lr = 1e-4
    c.train.n_frames_start, c.train.niter_step, c.train.niter_fix_global = 4, 2, 10
    c.train.chunk_length = 1
    return c


def _cityscapes_2048() -> Config:
    """Third stage: 3 spatial scales, num_D 4, lr 5e-5, 5 + 5 epochs, 4 frames doubling every epoch,
    the coarser scales frozen 5 epochs."""
    c = _cityscapes_1024()
    c.preset = "cityscapes-2048"
    c.data.height, c.data.width = 1024, 2048
    c.model.n_scales, c.model.num_D = 3, 4
    c.train.lr = 5e-5
    c.train.niter, c.train.niter_decay = 5, 5
    c.train.niter_step, c.train.niter_fix_global = 1, 5
    return c


def _face_512() -> Config:
    """Edge-to-face at 512 x 512 (FaceForensics). The input is continuous (label_nc 0) with 15
    channels per frame, as in the reference: 1 edge map (facial-part edges drawn from the 68
    landmarks plus Canny edges of the background) and 14 distance-transform maps, one per part edge,
    stored per frame as ``{split}_A/<sequence>/<frame>.npy``, ``uint8 [H, W, 15]`` (an image holds
    at most 3). No foreground branch; num_D 3; 20 + 20 epochs; 12 frames per sequence."""
    c = Config(preset="face-512")
    c.data.root, c.data.dataset = "datasets/face", "face"
    c.data.label_nc, c.data.input_nc, c.data.use_instance = 0, 15, False
    c.data.height, c.data.width = 512, 512
    c.data.foreground_ids = []
    c.model.use_fg_prior = False
    c.model.num_D = 3
    c.train.niter, c.train.niter_decay = 20, 20
    c.train.n_frames_start = 12
    return c


def _pose_256() -> Config:
    """Pose-to-body, first stage. Input per frame: 6 channels, the DensePose IUV rendering (3) and
    the OpenPose BODY_25 + face + hands skeleton rendering (3), stored per frame as ``.npy``
    ``uint8 [H, W, 6]``; label_nc 0, no foreground branch. Frames are scaled to a random height in
    [256, 384] and cropped to 256 x 448 (16:9 sources, sides rounded to multiples of 32 as the
    reference does); no flips; frame stride up to 4; batch 8 with 3 frames per chunk; 5 + 5 epochs;
    12 frames; the first frame is generated from labels alone."""
    c = Config(preset="pose-256")
    c.data.root, c.data.dataset = "datasets/pose", "pose"
    c.data.label_nc, c.data.input_nc, c.data.use_instance = 0, 6, False
    c.data.height, c.data.width, c.data.crop_height, c.data.crop_width = 384, 672, 256, 448
    c.data.random_scale, c.data.flip, c.data.max_t_step = True, False, 4
    c.data.foreground_ids = []
    c.model.use_fg_prior = False
    c.model.num_D = 2
    c.train.niter, c.train.niter_decay = 5, 5
    c.train.n_frames_start, c.train.batch_size, c.train.chunk_length = 12, 8, 3
    return c


def _pose_512() -> Config:
    """Second stage: 2 spatial scales, num_D 3, crop 512 x 896 from a height in [512, 768], lr 1e-4,
    the coarse scale frozen 3 epochs; the face discriminator on (128 x 128 crops around the face, one
    scale), which needs the body keypoints (``{split}_keypoints``)."""
    c = _pose_256()
    c.preset = "pose-512"
    c.data.height, c.data.width, c.data.crop_height, c.data.crop_width = 768, 1376, 512, 896
    c.model.n_scales, c.model.num_D = 2, 3
    c.model.use_face_D = True
    c.train.lr, c.train.niter_fix_global = 1e-4, 3
    c.train.chunk_length = 1
    return c


def _pose_1024() -> Config:
    """Third stage: 3 spatial scales, num_D 4, crop 1024 x 1824 from a height in [1024, 1536], lr 5e-5."""
    c = _pose_512()
    c.preset = "pose-1024"
    c.data.height, c.data.width, c.data.crop_height, c.data.crop_width = 1536, 2720, 1024, 1824
    c.model.n_scales, c.model.num_D = 3, 4
    c.train.lr = 5e-5
    c.train.batch_size = 1
    return c


def _tiny() -> Config:
    """Seconds on a CPU (tests, notebooks): the street code path (35 labels + instance edges,
    foreground branch, both discriminators) on 32 x 64 frames with a few channels."""
    c = Config(preset="tiny")
    c.data.root = "data/tiny"
    c.data.synthetic_sequences, c.data.synthetic_frames = 2, 8
    c.data.height, c.data.width = 32, 64
    c.data.num_workers = 0
    c.model.ngf, c.model.n_downsample, c.model.n_blocks_enc, c.model.n_blocks_dec = 8, 2, 1, 1
    c.model.fg_ngf, c.model.fg_n_blocks, c.model.n_blocks_local = 4, 1, 1
    c.model.ndf, c.model.n_layers_D = 8, 2
    # No VGG: its ImageNet weights cannot be downloaded offline, and VGG19 costs more than G here.
    c.loss.lambda_vgg, c.loss.vgg_weights = 0.0, "none"
    c.train.niter, c.train.niter_decay = 1, 1
    c.train.n_frames_start, c.train.n_frames_total, c.train.niter_step = 4, 8, 1
    c.train.checkpoint_every, c.train.log_every = 50, 10
    return c


def _synthetic() -> Config:
    """The built-in synthetic street dataset on a CPU: 64 x 128 frames, the street code path with
    the reference structure (two encoders, image and flow decoders, foreground branch) at ngf 16,
    2 downsamplings, 2 + 2 residual blocks (0.89 M parameters), and a label-only flow branch (1.15 M in
    all; below).

    Measured on a 2-core CPU shared with other jobs (torch 2.14): one generator forward + backward
    on one 64 x 128 frame takes about 0.09 s; the reference width at this size (ngf 32, 5 + 4
    blocks, a 16-wide foreground branch with 9 blocks) takes about 0.26 s. Nearly half of it is
    the two 7x7 stems on the 108 stacked label channels. Command::

        python -c "import time,torch; from vid2vid.config import get_preset; \\
        from vid2vid.models import Generator; G=Generator.from_config(get_preset('synthetic')); \\
        s=torch.rand(1,3,36,64,128); p=torch.rand(1,2,3,64,128)*2-1; \\
        f=lambda: G(s,p).x.mean().backward(); f(); t=time.time(); [f() for _ in range(20)]; \\
        print(round((time.time()-t)/20, 3))"

    A sample (``train.sample_every``: 16 generated frames of a test video, an MP4 of about 70 kB and
    a PNG) took 1.3 to 2.6 s on the same machine, 1 to 2 % of the main job for its 9 samples::

        python -c "import tempfile,time; from vid2vid.config import get_preset; \\
        from vid2vid.training.trainer import Trainer; from vid2vid.samples import write_samples; \\
        T=Trainer(get_preset('synthetic'), tempfile.mkdtemp(), log_with=None, check_data=False); \\
        t=time.time(); write_samples(T); print(round(time.time()-t, 2))"
    """
    c = Config(preset="synthetic")
    c.data.root = "data/synthetic"
    c.data.synthetic_sequences, c.data.synthetic_frames = 16, 30
    c.data.synthetic_motion = 4.0  # ~4 px/frame: slower motion is too small to learn flow from
    c.data.height, c.data.width = 64, 128
    c.model.ngf, c.model.n_downsample, c.model.n_blocks_enc, c.model.n_blocks_dec = 16, 2, 2, 2
    c.model.fg_ngf, c.model.fg_n_blocks, c.model.n_blocks_local = 8, 3, 2
    c.model.ndf, c.model.n_layers_D = 16, 3
    # No VGG: its ImageNet weights cannot be downloaded offline, and VGG19 costs more than G here.
    c.loss.lambda_vgg, c.loss.vgg_weights = 0.0, "none"
    # The mask learns the true occlusion the synthetic data stores (the reference only pushes it
    # towards 0 where the flow is confident), at weight 4: at weight 1 the GAN terms keep it near
    # 0.35-0.4 on visible pixels, and it separates occluded from visible worse (ROC AUC 0.74 against
    # 0.81 after 400 steps). The flow head (and the mask) learn from the ground truth alone before
    # the GAN game starts: without the warm-up, whether the flow learns at all within a few hundred
    # steps varied from run to run (reproduce/results/quality/, sections 5-7).
    c.loss.mask_target, c.loss.lambda_mask = "occlusion", 4.0
    c.train.flow_warmup = 3000
    # W and M read the label maps alone, through an encoder of their own (with the frame-mean
    # context that carries a camera pan past the instance norms), and only their own losses train
    # them: the composed frame reads w and m detached. With the reference's shared encoders the GAN
    # phase took the flow from 0.9 px back to 1.3-1.6 px and the mask re-painted a fifth of every
    # visible pixel; this way the flow keeps learning through the GAN phase as in the warm-up
    # (0.87-1.25 px across snapshots and a warping error 5.3x the real video's instead of 7.6x;
    # reproduce/results/quality/, section 12), and can be trained on alone after the GAN steps
    # (Trainer.refine_flow: the pretrained model, 0.38 px and 3.3x; section 13). Not the reference's
    # structure (README, differences).
    c.model.flow_branch, c.model.flow_context = "labels", True
    c.model.flow_detach, c.model.mask_detach = True, True
    # The warp is checked against the label maps: where frame t-1's labels, warped along w, are
    # another class than frame t's (the road a car has just left would copy the car), the frame is
    # hallucinated. Trained with it, the Tables' vid2vid lost the cars' trails and reached the
    # per-frame model's video FID (4.8 against 14.1 without; reproduce/results/quality/, section 14).
    # It needs semantic labels: continuous inputs (edges, poses) set model.label_occlusion=false.
    # Not in the reference (README, differences).
    c.model.label_occlusion = True
    c.train.niter, c.train.niter_decay = 10, 10
    c.train.n_frames_start, c.train.n_frames_total, c.train.niter_step = 4, 16, 5
    c.train.checkpoint_every, c.train.log_every = 100, 5
    # bf16 autocast where the CPU computes in bf16 natively (AVX512-BF16, AMX), fp32 elsewhere: 1.45x
    # the GAN steps per second, with every quality metric of 3 bf16 seeds inside the range of 3 fp32
    # seeds (python reproduce/precision_study.py; reproduce/results/speed/precision/). The tables and
    # the quality study pin fp32, as their committed results were made.
    c.train.mixed_precision = "auto"
    # A sample video of a test sequence after the first step and every 40 steps: the main job shows
    # how it learns while it runs (9 samples; their cost: the docstring)
    c.train.sample_every = 40
    return c


PRESETS: dict[str, Callable[[], Config]] = {
    "tiny": _tiny,
    "synthetic": _synthetic,
    "cityscapes-512": _cityscapes_512,
    "cityscapes-1024": _cityscapes_1024,
    "cityscapes-2048": _cityscapes_2048,
    "face-512": _face_512,
    "pose-256": _pose_256,
    "pose-512": _pose_512,
    "pose-1024": _pose_1024,
}


def get_preset(name: str) -> Config:
    """A fresh, validated copy of the named preset (see ``PRESETS``)."""
    if not isinstance(name, str) or name not in PRESETS:
        raise ConfigError(unknown_preset_message(name))
    return PRESETS[name]().validate()



def unknown_preset_message(name: Any) -> str:
    """The message for a preset name that is not in ``PRESETS`` (None: an empty ``preset:`` line)."""
    if name is None:
        return f"preset is empty; expected one of {sorted(PRESETS)}"
    close = difflib.get_close_matches(str(name), PRESETS, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return f"unknown preset {name!r}; expected one of {sorted(PRESETS)}{hint}"
