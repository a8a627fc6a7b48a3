"""The generator: shapes at every preset's geometry, gradient paths, ablations, first frame, scales."""

import pytest
import torch
from torch.testing import assert_close

from vid2vid.config import PRESETS, ConfigError, get_preset
from vid2vid.flow.warp import warp
from vid2vid.models import Generator, background_mask, compose
from vid2vid.models.generator import deadzone


def shrunk(name: str, **extra) -> "Config":  # noqa: F821
    """The preset with its structure (label channels, scales, fg branch, norm) kept, widths tiny and
    the smallest frame its scales and downsamplings allow (times 2 x 4)."""
    cfg = get_preset(name)
    s = extra.get("model.n_scales", cfg.model.n_scales)
    f = 2 ** (extra.get("model.n_downsample", cfg.model.n_downsample) + s - 1)
    over = {
        "model.ngf": 4 * 2 ** (s - 1), "model.fg_ngf": 2 * 2 ** (s - 1), "model.n_blocks_enc": 1,
        "model.n_blocks_dec": 1, "model.fg_n_blocks": 1, "model.n_blocks_local": 1,
        "data.crop_height": 0, "data.crop_width": 0, "data.height": 2 * f, "data.width": 4 * f,
    }
    return cfg.override({**over, **extra})


def inputs(cfg, batch: int = 2, seed: int = 0):
    """One-hot (or continuous) labels [B, L+1, C_s, H, W] with fg and bg pixels, prev frames, ids."""
    g = torch.Generator().manual_seed(seed)
    d, L = cfg.data, cfg.model.n_prev
    H, W = d.frame_size
    if d.label_nc > 0:
        ids = torch.randint(0, d.label_nc, (batch, L + 1, 1, H, W), generator=g)
        ids[..., : H // 2, :] = 26  # a car in the top half of every frame: both m_B = 0 and 1 occur
        labels = torch.zeros(batch, L + 1, d.label_channels, H, W).scatter_(2, ids, 1.0)
    else:
        ids = None
        labels = torch.rand(batch, L + 1, d.label_channels, H, W, generator=g)
    prev = torch.rand(batch, L, 3, H, W, generator=g) * 2 - 1
    return labels, prev, ids


def tiny_generator(seed: int = 0, **overrides) -> tuple[Generator, object]:
    torch.manual_seed(seed)
    cfg = get_preset("tiny").override(overrides) if overrides else get_preset("tiny")
    return Generator.from_config(cfg), cfg


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_output_shapes_and_ranges_at_every_preset_geometry(name):
    cfg = shrunk(name)
    torch.manual_seed(0)
    G = Generator.from_config(cfg)
    assert G.n_scales == cfg.model.n_scales
    labels, prev, _ = inputs(cfg)
    B, H, W = labels.shape[0], *cfg.data.frame_size
    with torch.no_grad():
        out = G(labels, prev)
    assert out.x.shape == out.h.shape == out.h_B.shape == (B, 3, H, W)
    assert out.w.shape == (B, 2, H, W) and out.m.shape == out.m_B.shape == (B, 1, H, W)
    assert out.warped.shape == (B, 3, H, W)
    assert out.x.abs().max() <= 1 and out.h.abs().max() <= 1
    assert 0 < out.m.min() and out.m.max() < 1
    if cfg.model.use_fg_prior:
        assert out.h_F.shape == (B, 3, H, W)
        assert 0 < out.m_B.mean() < 1  # both foreground and background pixels
    else:
        assert out.h_F is None and torch.equal(out.m_B, torch.ones(B, 1, H, W))


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_forward_composes_its_parts_with_the_chosen_equation(variant):
    G, cfg = tiny_generator(**{"model.composition": variant})
    labels, prev, _ = inputs(cfg)
    with torch.no_grad():
        out = G(labels, prev)
    assert_close(out.warped, warp(prev[:, -1], out.w))  # flow t -> t-1 aligns x~_{t-1} to t
    assert_close(out.x, compose(out.warped, out.m, out.h_B, out.h_F, out.m_B, variant))
    assert_close(out.h, (1 - out.m_B) * out.h_F + out.m_B * out.h_B)


def test_m_B_defaults_to_the_foreground_classes_of_frame_t():
    G, cfg = tiny_generator()
    labels, prev, ids = inputs(cfg)
    m_B = background_mask(ids[:, -1], cfg.data.foreground_ids)
    with torch.no_grad():
        a, b = G(labels, prev), G(labels, prev, m_B)
        c = G(labels, prev, torch.ones_like(m_B))
    assert torch.equal(a.m_B, m_B) and torch.equal(a.x, b.x)
    assert not torch.allclose(a.x, c.x)  # with the prior, m_B matters


@pytest.mark.parametrize("n_scales", [1, 2])
def test_gradients_of_the_frame_reach_every_head_branch_and_scale(n_scales):
    cfg = shrunk("tiny", **{"model.n_scales": n_scales})
    torch.manual_seed(0)
    G = Generator.from_config(cfg)
    labels, prev, _ = inputs(cfg)
    G(labels, prev).x.square().mean().backward()

    def reached(module):
        return sum(p.grad.abs().sum().item() for p in module.parameters() if p.grad is not None) > 0

    finest = G.scales[-1]
    for part in ("image_head", "flow_head", "mask_head", "fg_head"):  # H_B, W, M, H_F
        assert reached(getattr(finest, part)), part
    for s, scale in enumerate(G.scales):  # every scale's trunk, local enhancers included
        for part in ("label_encoder", "image_encoder", "image_decoder", "flow_decoder",
                     "fg_encoder", "fg_decoder"):
            assert reached(getattr(scale, part)), f"scale {s} {part}"
    for scale in G.scales[:-1]:  # only the finest heads make the output: coarser ones are not trained
        assert not any(p.requires_grad for head in scale.head_modules() for p in head.parameters())
    # every parameter that is trained gets a gradient (DDP needs no find_unused_parameters)
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)


def test_no_flow_ablation_has_no_flow_or_mask_layers_and_never_warps():
    G, cfg = tiny_generator(**{"model.use_flow": False})
    names = [n for n, _ in G.named_parameters()]
    assert not [n for n in names if "flow" in n or "mask" in n]
    full, _ = tiny_generator()
    assert sum(p.numel() for p in G.parameters()) < sum(p.numel() for p in full.parameters())
    labels, prev, _ = inputs(cfg)
    with torch.no_grad():
        out = G(labels, prev)
    assert out.w is None and out.m is None and out.warped is None
    assert torch.equal(out.x, out.h)  # the frame is the hallucination alone


def test_no_fg_prior_ablation_has_no_fg_branch_and_ignores_m_B():
    G, cfg = tiny_generator(**{"model.use_fg_prior": False})
    assert not [n for n, _ in G.named_parameters() if "fg" in n]
    labels, prev, _ = inputs(cfg)
    H, W = cfg.data.frame_size
    with torch.no_grad():
        a = G(labels, prev)
        b = G(labels, prev, torch.zeros(2, 1, H, W))
        c = G(labels, prev, torch.rand(2, 1, H, W))
    assert a.h_F is None and torch.equal(a.h, a.h_B)
    assert torch.equal(a.x, b.x) and torch.equal(a.x, c.x)


def test_first_frame_comes_from_labels_alone():
    G, cfg = tiny_generator()
    labels, prev, _ = inputs(cfg)
    with torch.no_grad():
        first = G(labels, None)
        zero_prev = G(labels, torch.zeros_like(prev))
    assert first.warped is None
    assert torch.equal(first.x, first.h)  # no warped term: m is taken as 1
    assert torch.equal(first.h, zero_prev.h)  # the generator saw zero previous frames
    assert first.x.abs().max() <= 1 and torch.isfinite(first.x).all()


def test_fewer_previous_frames_are_padded_with_zeros_on_the_old_side():
    G, cfg = tiny_generator()
    labels, prev, _ = inputs(cfg)
    padded = torch.cat([torch.zeros_like(prev[:, :1]), prev[:, 1:]], dim=1)
    with torch.no_grad():
        assert torch.equal(G(labels, prev[:, 1:]).x, G(labels, padded).x)


def test_bad_inputs_say_what_was_expected():
    G, cfg = tiny_generator()
    labels, prev, _ = inputs(cfg)
    with pytest.raises(ValueError, match=r"labels must be \[B, 3, 36, H, W\].*got \[2, 2, 36, 32, 64\]"):
        G(labels[:, 1:], prev)
    with pytest.raises(ValueError, match=r"prev must be .*got \[2, 2, 3, 16, 64\]"):
        G(labels, prev[..., :16, :])
    with pytest.raises(ValueError, match=r"frame size 34 x 64 must be divisible by .* = 4"):
        G(torch.zeros(1, 3, 36, 34, 64))
    with pytest.raises(ValueError, match=r"frame size 4 x 64 is too small .* at least 8"):
        G(torch.zeros(1, 3, 36, 4, 64))


def test_a_finer_scale_loads_the_trained_coarse_model():
    coarse, cfg = tiny_generator()
    sd = coarse.state_dict()
    cfg2 = cfg.override({"model.n_scales": 2, "model.ngf": 16, "model.fg_ngf": 8})
    with pytest.raises(RuntimeError, match="size mismatch"):  # widths must match the coarse model
        Generator.from_coarser(sd, cfg2)
    cfg2 = cfg.override({"model.n_scales": 2})
    G = Generator.from_coarser(sd, cfg2)
    assert G.n_scales == 2
    for k, v in sd.items():
        assert torch.equal(G.state_dict()[k], v), k
    grown = tiny_generator()[0].add_scale()  # growing in place gives the same layout
    assert grown.state_dict().keys() == G.state_dict().keys()
    with pytest.raises(ValueError, match="weights of a 1-scale generator"):
        Generator.from_config(cfg2).load_coarser(G.state_dict())  # not one scale fewer
    labels, prev, _ = inputs(cfg.override({"data.height": 64, "data.width": 128}))
    with torch.no_grad():
        assert G(labels, prev).x.shape == (2, 3, 64, 128)


def test_freeze_coarse_stops_gradients_to_the_coarser_scales_only():
    cfg = shrunk("tiny", **{"model.n_scales": 2, "model.norm": "batch"})
    torch.manual_seed(0)
    G = Generator.from_config(cfg)
    labels, prev, _ = inputs(cfg)
    G.freeze_coarse(True)
    G.train()
    assert not G.scales[0].training and G.scales[1].training  # frozen batch-norm statistics
    G(labels, prev).x.mean().backward()
    assert all(p.grad is None for p in G.scales[0].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.scales[1].parameters())
    G.freeze_coarse(False)
    G.zero_grad()
    G(labels, prev).x.mean().backward()
    assert G.scales[0].training
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.scales[0].parameters())


def test_batch_and_affine_instance_norm_have_the_same_parameter_count():
    counts = [sum(p.numel() for p in tiny_generator(**{"model.norm": n})[0].parameters())
              for n in ("instance", "batch")]
    assert counts[0] == counts[1]


def test_per_frame_generator_sees_only_the_current_labels():
    """n_prev = 0 is the pix2pixHD baseline: no image encoder, no flow, output a function of s_t."""
    import pytest

    G = Generator(label_channels=5, n_prev=0, ngf=8, n_downsample=1, n_blocks_enc=1, n_blocks_dec=1,
                  use_fg_prior=False, use_flow=False)
    assert G.scales[0].image_encoder is None
    s = torch.rand(2, 1, 5, 16, 16)
    a = G(s).x
    b = G(s, None).x
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="no previous frame to warp"):
        Generator(label_channels=5, n_prev=0, use_flow=True)


def _plain_and_variant(**option) -> tuple[Generator, Generator]:
    """A small flow generator and its twin with ``option``, drawn from the same seed."""
    kwargs = dict(label_channels=5, n_prev=2, ngf=8, n_downsample=1, n_blocks_enc=1, n_blocks_dec=1,
                  use_fg_prior=False)
    torch.manual_seed(0)
    plain = Generator(**kwargs)
    torch.manual_seed(0)
    return plain, Generator(**kwargs, **option)


def test_flow_context_starts_as_a_no_op_and_learns_a_uniform_flow():
    """``model.flow_context``: the bottleneck's frame-mean added to the flow features. At
    initialisation (zero weights, drawn after every other layer) the generator is the one without
    it, number for number; its gradient moves the flow by the same amount at every pixel."""
    plain, ctx = _plain_and_variant(flow_context=True)
    assert plain.scales[0].flow_context is None and ctx.scales[0].flow_context is not None
    s, prev = torch.rand(1, 3, 5, 16, 16), torch.rand(1, 2, 3, 16, 16) * 2 - 1
    a, b = plain(s, prev), ctx(s, prev)
    torch.testing.assert_close(a.x, b.x)
    torch.testing.assert_close(a.w, b.w)
    # as after some training, the flow head no longer zero; then one step on "flow = +1 px
    # everywhere in x" through the context alone
    torch.nn.init.normal_(ctx.scales[0].flow_head.conv.weight, 0.0, 0.02)
    with torch.no_grad():
        b = ctx(s, prev)
    opt = torch.optim.SGD(ctx.scales[0].flow_context.parameters(), lr=1e-3)
    ((ctx(s, prev).w[:, 0] - 1) ** 2).mean().backward()
    opt.step()
    with torch.no_grad():
        moved = ctx(s, prev).w - b.w
    assert float(moved[:, 0].mean()) > 0
    # the head's 7x7 convolution with reflection padding maps a per-channel offset to one offset
    uniform = moved.mean((2, 3), keepdim=True).expand_as(moved)
    torch.testing.assert_close(moved, uniform, rtol=0, atol=1e-3 * float(moved.abs().max()))


def test_flow_detach_keeps_the_composite_from_training_the_flow():
    """``model.flow_detach``: the same frame, but a loss on the composed frame leaves the flow head
    without gradient, while a loss on the predicted flow itself (the flow loss) still reaches it."""
    plain, detached = _plain_and_variant(flow_detach=True)
    s, prev = torch.rand(1, 3, 5, 16, 16), torch.rand(1, 2, 3, 16, 16) * 2 - 1
    for G in (plain, detached):  # a flow head that is not zero, as after some training
        torch.manual_seed(1)
        torch.nn.init.normal_(G.scales[0].flow_head.conv.weight, 0.0, 0.05)
    a, b = plain(s, prev), detached(s, prev)
    torch.testing.assert_close(a.x, b.x)
    grads = {}
    for name, G, out in (("plain", plain, a), ("detached", detached, b)):
        G.zero_grad()
        out.x.square().mean().backward()
        grads[name] = G.scales[0].flow_head.conv.weight.grad
    assert grads["plain"] is not None and float(grads["plain"].abs().sum()) > 0
    assert grads["detached"] is None or float(grads["detached"].abs().sum()) == 0
    detached.zero_grad()
    detached(s, prev).w.abs().mean().backward()
    assert float(detached.scales[0].flow_head.conv.weight.grad.abs().sum()) > 0


def test_bicubic_warp_keeps_the_detail_bilinear_resampling_blurs_away():
    """``model.warp_mode``: with a zero flow both modes copy the previous frame exactly; along a
    fractional shift bilinear resampling averages neighbours, bicubic keeps more of the horizontal
    detail (the gradient energy across x), stays in [-1, 1] and still trains the flow head."""
    plain, cubic = _plain_and_variant(warp_mode="bicubic")
    assert (plain.warp_mode, cubic.warp_mode) == ("bilinear", "bicubic")
    s, prev = torch.rand(1, 3, 5, 16, 16), torch.rand(1, 2, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(plain(s, prev).warped, cubic(s, prev).warped)  # zero flow: a copy
    for G in (plain, cubic):  # a flow of half a pixel along x everywhere
        head = G.scales[0].flow_head.conv
        torch.nn.init.zeros_(head.weight)
        with torch.no_grad():
            head.bias.copy_(torch.tensor([0.5, 0.0]) / G.flow_scale)
    a, b = plain(s, prev), cubic(s, prev)
    torch.testing.assert_close(a.w, b.w)
    with torch.no_grad():
        detail = [float((o.warped[..., 2:-2, 3:-2] - o.warped[..., 2:-2, 2:-3]).abs().mean()) for o in (a, b)]
    assert detail[1] > 1.2 * detail[0], detail
    assert float(b.warped.detach().abs().max()) <= 1
    cubic.zero_grad()
    b.x.square().mean().backward()
    assert float(cubic.scales[0].flow_head.conv.bias.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="warp_mode"):
        Generator(label_channels=5, warp_mode="nearest")
    cfg = get_preset("tiny").override(["model.warp_mode=bicubic"])
    assert Generator.from_config(cfg).warp_mode == "bicubic"


def test_flow_deadzone_copies_where_the_motion_is_shorter_than_it():
    """``model.flow_deadzone``: a flow of 0.3 px (what a regressed flow leaves where nothing moves)
    copies the previous frame exactly instead of resampling it, a flow of 2 px is warped as without
    the dead zone, and the raw ``w`` (the flow losses' input) is returned unchanged; rolled out
    along 0.3 px 20 times, bilinear warping loses the detail across x that the dead zone keeps."""
    plain, dz = _plain_and_variant(flow_deadzone=0.5)
    assert (plain.flow_deadzone, dz.flow_deadzone) == (0.0, 0.5)
    s, prev = torch.rand(1, 3, 5, 16, 16), torch.rand(1, 2, 3, 16, 16) * 2 - 1

    def set_flow(G, dx):
        head = G.scales[0].flow_head.conv
        torch.nn.init.zeros_(head.weight)
        with torch.no_grad():
            head.bias.copy_(torch.tensor([dx, 0.0]) / G.flow_scale)

    for G in (plain, dz):
        set_flow(G, 0.3)
    a, b = plain(s, prev), dz(s, prev)
    torch.testing.assert_close(a.w, b.w)  # the raw flow, for the flow losses
    torch.testing.assert_close(b.warped, prev[:, -1])  # copied, not resampled
    assert float((a.warped - prev[:, -1]).detach().abs().mean()) > 1e-3
    for G in (plain, dz):
        set_flow(G, 2.0)
    torch.testing.assert_close(plain(s, prev).warped, dz(s, prev).warped)  # long motions: warped as before
    frame = prev[:, -1]
    w = torch.zeros(1, 2, 16, 16)
    w[:, 0] = 0.3
    carried = {"plain": frame, "deadzone": frame}
    for _ in range(20):
        carried = {"plain": warp(carried["plain"], w),
                   "deadzone": warp(carried["deadzone"], deadzone(w, 0.5))}

    def detail(x):
        return float((x[..., 3:-3] - x[..., 2:-4]).abs().mean())

    assert detail(carried["deadzone"]) == pytest.approx(detail(frame), rel=1e-4)  # zero flow: a copy
    assert detail(carried["plain"]) < 0.6 * detail(frame)
    torch.testing.assert_close(deadzone(w, 0.0), w)
    with pytest.raises(ValueError, match="flow_deadzone"):
        Generator(label_channels=5, flow_deadzone=-1.0)
    with pytest.raises(ConfigError, match="flow_deadzone"):
        get_preset("tiny").override(["model.flow_deadzone=-0.5"])
    cfg = get_preset("tiny").override(["model.flow_deadzone=0.5"])
    assert Generator.from_config(cfg).flow_deadzone == 0.5


def _flow_branch_parameters(G: Generator) -> list[torch.nn.Parameter]:
    """W and M's own parameters with ``flow_branch`` "separate": encoders, decoder, both heads."""
    c = G.scales[0]
    mods = (c.flow_label_encoder, c.flow_image_encoder, c.flow_decoder, c.flow_head, c.mask_head)
    return [p for mod in mods for p in mod.parameters()]


def test_separate_flow_branch_has_its_own_encoders():
    """``model.flow_branch`` "separate": W and M read encoders of their own, built after every other
    layer (the image path starts number for number as with "shared"); a loss on the hallucination
    reaches the image encoders and not the flow branch, the flow loss the flow branch and not the
    image encoders."""
    plain, sep = _plain_and_variant(flow_branch="separate")
    assert plain.scales[0].flow_label_encoder is None and sep.scales[0].flow_label_encoder is not None
    assert "flow_encoders" in sep.parameter_counts() and "flow_encoders" not in plain.parameter_counts()
    assert sep.parameter_counts()["total"] - plain.parameter_counts()["total"] == \
        sep.parameter_counts()["flow_encoders"]
    s, prev = torch.rand(1, 3, 5, 16, 16), torch.rand(1, 2, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(plain(s, prev).h, sep(s, prev).h)
    torch.nn.init.normal_(sep.scales[0].flow_head.conv.weight, 0.0, 0.05)
    c = sep.scales[0]
    sep.zero_grad()
    sep(s, prev).h.square().mean().backward()
    assert float(c.image_encoder.parameters().__next__().grad.abs().sum()) > 0
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in _flow_branch_parameters(sep))
    sep.zero_grad()
    sep(s, prev).w.abs().mean().backward()
    assert float(c.flow_image_encoder.parameters().__next__().grad.abs().sum()) > 0
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0 for p in c.image_encoder.parameters())
    # a finer scale gets its own flow encoders too
    sep.add_scale()
    assert sep.scales[1].flow_label_encoder is not None
    assert sep(torch.rand(1, 3, 5, 32, 32), torch.rand(1, 2, 3, 32, 32)).w.shape == (1, 2, 32, 32)
    with pytest.raises(ValueError, match="flow_branch must be one of"):
        Generator(label_channels=5, flow_branch="own")


def test_isolated_flow_branch_learns_only_from_its_own_losses():
    """``flow_detach`` + ``mask_detach`` + ``flow_branch`` "separate": the composed frame (what the GAN,
    feature-matching and VGG terms read) gives no parameter of W or M a gradient, while the mask
    loss, which reads ``m`` itself, still reaches the mask head; the frame is the same as without
    the detaches."""
    _, iso = _plain_and_variant(flow_branch="separate", flow_detach=True, mask_detach=True)
    _, att = _plain_and_variant(flow_branch="separate")
    s, prev = torch.rand(1, 3, 5, 16, 16), torch.rand(1, 2, 3, 16, 16) * 2 - 1
    for G in (iso, att):
        torch.manual_seed(1)
        torch.nn.init.normal_(G.scales[0].flow_head.conv.weight, 0.0, 0.05)
    a, b = att(s, prev), iso(s, prev)
    torch.testing.assert_close(a.x, b.x)
    for G, out, reached in ((att, a, True), (iso, b, False)):
        G.zero_grad()
        out.x.square().mean().backward()
        total = sum(float(p.grad.abs().sum()) for p in _flow_branch_parameters(G) if p.grad is not None)
        assert (total > 0) == reached
    iso.zero_grad()
    iso(s, prev).m.mean().backward()
    assert float(iso.scales[0].mask_head.conv.weight.grad.abs().sum()) > 0


def test_label_only_flow_branch_ignores_the_previous_frames():
    """``model.flow_branch`` "labels": W and M read the label maps through an encoder of their own and
    nothing else, so the flow and mask do not change with the previous frames, while the
    hallucination does."""
    _, G = _plain_and_variant(flow_branch="labels")
    c = G.scales[0]
    assert c.flow_label_encoder is not None and c.flow_image_encoder is None
    torch.nn.init.normal_(c.flow_head.conv.weight, 0.0, 0.05)
    s = torch.rand(1, 3, 5, 16, 16)
    a, b = G(s, torch.rand(1, 2, 3, 16, 16) * 2 - 1), G(s, torch.rand(1, 2, 3, 16, 16) * 2 - 1)
    assert float(a.w.abs().max()) > 0
    torch.testing.assert_close(a.w, b.w)
    torch.testing.assert_close(a.m, b.m)
    assert not torch.allclose(a.h, b.h)


def test_label_occlusion_hallucinates_where_the_warp_would_copy_another_class(tmp_path):
    """``model.label_occlusion``: frame t-1's labels are warped along the flow like the frame; where
    they disagree with frame t's (the car's old and new place) the output is the hallucination,
    elsewhere it is the unchecked generator's, number for number. The raw mask is unchanged."""
    from vid2vid.config import ConfigError
    from vid2vid.models.generator import label_agreement
    from vid2vid.models.io import CheckpointMismatchError, export_generator, load_generator

    plain, checked = _plain_and_variant(label_occlusion=4)  # 4 one-hot classes and an instance-edge channel
    ids = torch.zeros(3, 16, 16, dtype=torch.long)  # frames t-2, t-1, t: a "car" (class 1) moving 4 px
    ids[:2, 4:8, 2:6] = 1
    ids[2, 4:8, 6:10] = 1
    s = torch.cat([torch.nn.functional.one_hot(ids, 4).permute(0, 3, 1, 2).float(),
                   torch.zeros(3, 1, 16, 16)], 1)[None]
    prev = torch.rand(1, 2, 3, 16, 16) * 2 - 1
    a, b = plain(s, prev), checked(s, prev)
    agree = ids[1] == ids[2]  # the flow head starts at zero: the warp copies the same pixel
    assert_close(label_agreement(s[:, 1, :4], s[:, 2, :4], a.w)[0, 0], agree.float())
    assert_close(b.x[..., agree], a.x[..., agree])
    assert_close(b.x[..., ~agree], b.h[..., ~agree])
    assert float((a.x - a.h).detach()[..., ~agree].abs().mean()) > 0.05  # unchecked: mostly the warp there
    assert_close(a.m, b.m)
    # a flow that fetches from outside the frame finds no label: hallucinate
    outside = torch.zeros(1, 2, 16, 16)
    outside[:, 0] = 40.0
    assert float(label_agreement(s[:, 1, :4], s[:, 2, :4], outside).max()) == 0
    with pytest.raises(ValueError, match="label_occlusion"):
        Generator(label_channels=5, label_occlusion=6)
    cfg = get_preset("tiny").override(["model.label_occlusion=true"])
    assert Generator.from_config(cfg).label_occlusion == cfg.data.label_nc
    with pytest.raises(ConfigError, match="label_occlusion"):
        get_preset("tiny").override(["data.label_nc=0", "data.input_nc=1", "model.use_fg_prior=false",
                                     "model.label_occlusion=true"])
    # a trained generator run with it: the same weights, loaded with an override
    cfg = get_preset("tiny")
    path = export_generator(tmp_path / "generator.pt", cfg, Generator.from_config(cfg), step=3)
    cfg2, G2, step = load_generator(path, overrides=["model.label_occlusion=true"])
    assert cfg2.model.label_occlusion and G2.label_occlusion == cfg.data.label_nc and step == 3
    with pytest.raises(CheckpointMismatchError, match="do not fit"):
        load_generator(path, overrides=[f"model.ngf={2 * cfg.model.ngf}"])
