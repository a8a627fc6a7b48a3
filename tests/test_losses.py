"""Losses against hand-computed values on tiny tensors; masking; where gradients go; VGG weight loading."""

import math
import urllib.error

import pytest
import torch
import torchvision

from vid2vid.config import LossConfig
from vid2vid.losses import (
    VGG_LAYER_WEIGHTS,
    GANLoss,
    VGGLoss,
    feature_matching_loss,
    flow_loss,
    mask_loss,
    masked_l1,
    temporal_warp_loss,
    warp_loss,
)


def softplus(x: float) -> float:
    return math.log(1 + math.exp(x))


def two_scale_output(scale0, scale1):
    """A fake multi-scale discriminator output: one (dummy) feature then the prediction map."""
    return [
        [torch.zeros(1, 2, 1, 1), torch.tensor(scale0).view(1, 1, 1, -1)],
        [torch.zeros(1, 2, 1, 1), torch.tensor(scale1).view(1, 1, 1, -1)],
    ]


REAL = two_scale_output([0.5, -1.0], [2.0])
FAKE = two_scale_output([-0.5, 1.0], [0.0])


# ----------------------------------------------------------------------------- GAN objectives


def test_lsgan_matches_hand_computed_values_summed_over_scales():
    gan = GANLoss("lsgan")
    real, fake = gan.discriminator_terms(REAL, FAKE)
    expected_real = ((0.5 - 1) ** 2 + (-1 - 1) ** 2) / 2 + (2 - 1) ** 2  # 2.125 + 1
    expected_fake = (0.25 + 1.0) / 2 + 0.0  # 0.625 + 0
    assert real.item() == pytest.approx(expected_real)
    assert fake.item() == pytest.approx(expected_fake)
    assert gan.discriminator_loss(REAL, FAKE).item() == pytest.approx(0.5 * (expected_real + expected_fake))
    expected_g = ((-0.5 - 1) ** 2 + (1 - 1) ** 2) / 2 + (0 - 1) ** 2  # 1.125 + 1
    assert gan.generator_loss(FAKE).item() == pytest.approx(expected_g)


def test_hinge_matches_hand_computed_values():
    gan = GANLoss("hinge")
    real, fake = gan.discriminator_terms(REAL, FAKE)
    assert real.item() == pytest.approx((0.5 + 2.0) / 2 + 0.0)  # relu(1 - 0.5), relu(1 + 1); relu(1 - 2)
    assert fake.item() == pytest.approx((0.5 + 2.0) / 2 + 1.0)  # relu(1 - 0.5), relu(1 + 1); relu(1 + 0)
    assert gan.generator_loss(FAKE).item() == pytest.approx(-(-0.5 + 1.0) / 2 - 0.0)


def test_vanilla_is_binary_cross_entropy_with_a_non_saturating_generator():
    gan = GANLoss("vanilla")
    real, fake = gan.discriminator_terms(REAL, FAKE)
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
    assert real.item() == pytest.approx((softplus(-0.5) + softplus(1.0)) / 2 + softplus(-2.0))
    assert fake.item() == pytest.approx((softplus(-0.5) + softplus(1.0)) / 2 + softplus(0.0))
    # Generator: -log D(G(z)) = softplus(-logit)
    expected_g = (softplus(0.5) + softplus(-1.0)) / 2 + softplus(0.0)
    assert gan.generator_loss(FAKE).item() == pytest.approx(expected_g)


def test_minimax_generator_is_the_saturating_log_one_minus_d():
    gan = GANLoss("minimax")
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = (math.log(1 - sigmoid(-0.5)) + math.log(1 - sigmoid(1.0))) / 2 + math.log(1 - sigmoid(0.0))
    assert gan.generator_loss(FAKE).item() == pytest.approx(expected)
    # The discriminator side is the same as vanilla.
    vanilla = GANLoss("vanilla").discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(gan.discriminator_loss(REAL, FAKE), vanilla)


def test_non_saturating_generator_keeps_its_gradient_when_d_rejects_the_fake():
    grads = {}
    for mode in ("vanilla", "minimax"):
        logit = torch.tensor([[[[-10.0]]]], requires_grad=True)  # D is sure the sample is fake
        GANLoss(mode).generator_loss(logit).backward()
        grads[mode] = logit.grad.abs().item()
    assert grads["vanilla"] > 0.99  # d/dx softplus(-x) = -sigmoid(-x), about -1
    assert grads["minimax"] < 1e-4  # d/dx -softplus(x) = -sigmoid(x), about -4.5e-5


def test_scale_reduction_mean_averages_and_single_tensors_are_accepted():
    total = GANLoss("lsgan", scale_reduction="sum").generator_loss(FAKE)
    mean = GANLoss("lsgan", scale_reduction="mean").generator_loss(FAKE)
    assert mean.item() == pytest.approx(total.item() / 2)
    pred = torch.tensor([[[[0.0, 2.0]]]])
    assert GANLoss("lsgan").generator_loss(pred).item() == pytest.approx((1 + 1) / 2)
    assert GANLoss("lsgan").generator_loss([torch.ones(1), pred]).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="GAN mode"):
        GANLoss("wgan")


# ----------------------------------------------------------------------------- feature matching


def test_feature_matching_weights_layers_by_4_over_n_and_scales_by_1_over_num_d():
    # Two scales with two intermediate features each: weight (4 / 2) * (1 / 2) = 1 per layer.
    real = [[torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 1, 1), torch.zeros(1, 1, 1, 1)] for _ in range(2)]
    fake = [
        [
            torch.full((1, 1, 2, 2), 1.0),
            torch.tensor([3.0, 1.0]).view(1, 2, 1, 1),
            torch.full((1, 1, 1, 1), 99.0),
        ],
        [torch.full((1, 1, 2, 2), -0.5), torch.zeros(1, 2, 1, 1), torch.full((1, 1, 1, 1), -99.0)],
    ]
    # The prediction maps (99, -99) are excluded.
    assert feature_matching_loss(real, fake).item() == pytest.approx(1 * (1.0 + 2.0) + 1 * (0.5 + 0.0))


def test_feature_matching_with_three_layers_is_mean_over_scales_of_summed_layer_l1():
    # Reference default: n_layers 3 -> 4 intermediate features, weight 4 / 4 = 1.
    real = [[torch.zeros(1, 1, 1, 1) for _ in range(5)]]
    fake = [[torch.full((1, 1, 1, 1), float(k)) for k in range(5)]]
    assert feature_matching_loss(real, fake).item() == pytest.approx(0 + 1 + 2 + 3)


def test_feature_matching_detaches_the_real_features():
    real = [[torch.randn(1, 2, 3, 3, requires_grad=True), torch.randn(1, 1, 2, 2)]]
    fake = [[torch.randn(1, 2, 3, 3, requires_grad=True), torch.randn(1, 1, 2, 2)]]
    feature_matching_loss(real, fake).backward()
    assert real[0][0].grad is None
    assert fake[0][0].grad is not None and fake[0][0].grad.abs().sum() > 0


# ----------------------------------------------------------------------------- VGG


def test_vgg_random_weights_work_and_gradients_reach_the_fake_only():
    torch.manual_seed(0)
    vgg = VGGLoss(weights="random")
    assert all(not p.requires_grad for p in vgg.parameters())
    fake = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    real = (torch.rand(1, 3, 32, 32) * 2 - 1).requires_grad_()
    loss = vgg(fake, real)
    assert loss.dim() == 0 and loss.item() > 0
    loss.backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None
    assert vgg(real.detach(), real.detach()).item() == 0.0
    vgg.train()
    assert not vgg.slices.training


def test_vgg_builds_only_up_to_relu5_1_with_torchvision_layout_and_weights(tmp_path):
    torch.manual_seed(0)
    # torchvision's full vgg19 feature stack (37 modules), built without the 120 M classifier.
    full = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    path = tmp_path / "vgg19_features.pth"
    torch.save(full.state_dict(), path)
    vgg = VGGLoss(weights=path)
    n_up_to_relu5_1 = sum(p.numel() for p in full[:30].parameters())
    assert sum(p.numel() for p in vgg.parameters()) == n_up_to_relu5_1
    torch.testing.assert_close(vgg.slices[0][0].weight, full[0].weight)
    # The five features are torchvision's relu1_1 .. relu5_1 on ImageNet-normalised input.
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    normalised = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]
    ).view(1, 3, 1, 1)
    feats = vgg.features(x)
    for feat, end in zip(feats, (2, 7, 12, 21, 30), strict=True):
        torch.testing.assert_close(feat, full[:end](normalised))
    # The loss is the weighted sum of the per-layer L1s.
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    feats_y = vgg.features(y)
    pairs = zip(VGG_LAYER_WEIGHTS, feats, feats_y, strict=True)
    expected = sum(w * (a - b).abs().mean() for w, a, b in pairs)
    torch.testing.assert_close(vgg(x, y), expected)


def test_vgg_loads_a_full_model_state_dict_with_features_prefix(tmp_path):
    torch.manual_seed(1)
    full = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"])
    state = {f"features.{k}": v for k, v in full.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    vgg = VGGLoss(weights=str(path))
    torch.testing.assert_close(vgg.slices[4][-2].weight, full[28].weight)


def test_vgg_imagenet_offline_raises_a_clear_error(monkeypatch):
    def no_network(self, *args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", no_network)
    with pytest.raises(RuntimeError, match="ImageNet VGG19") as info:
        VGGLoss(weights="imagenet")
    message = str(info.value)
    assert "vgg_weights" in message and "lambda_vgg: 0" in message and "network is unreachable" in message


def test_vgg_default_is_imagenet_and_unknown_names_are_not_random(monkeypatch):
    calls = []

    def record(self, *args, **kwargs):
        calls.append(self)
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torchvision.models.VGG19_Weights, "get_state_dict", record)
    with pytest.raises(RuntimeError):
        VGGLoss()
    assert calls == [torchvision.models.VGG19_Weights.IMAGENET1K_V1]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VGGLoss(weights="randm")


def test_vgg_rejects_a_file_without_vgg_features(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(1)}, path)
    with pytest.raises(RuntimeError, match="no VGG19 feature weights"):
        VGGLoss(weights=path)


# ----------------------------------------------------------------------------- flow and warp losses


def test_flow_loss_is_l1_on_confident_pixels_averaged_over_all_elements():
    w_gt = torch.zeros(1, 2, 2, 2)
    w_pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[-1.0, 0.0], [0.5, 8.0]]]])
    confidence = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    # Confident pixels (0,0) and (1,0): |1| + |3| + |-1| + |0.5| over 2 channels x 4 pixels.
    assert flow_loss(w_pred, w_gt, confidence).item() == pytest.approx((1 + 3 + 1 + 0.5) / 8)


def test_masked_pixels_are_really_excluded():
    torch.manual_seed(0)
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    mask = (torch.rand(2, 1, 4, 4) > 0.5).float()
    changed = a + (1 - mask) * 100.0  # arbitrary values where the mask is 0
    torch.testing.assert_close(masked_l1(a, b, mask), masked_l1(changed, b, mask))
    a.requires_grad_()
    masked_l1(a, b, mask).backward()
    assert (a.grad * (1 - mask)).abs().sum() == 0
    assert (a.grad * mask).abs().sum() > 0
    assert masked_l1(a, b, torch.zeros(2, 1, 4, 4)).item() == 0.0


def test_warp_loss_hand_computed_on_constant_frames():
    prev = torch.full((1, 3, 3, 3), 0.5)
    real = torch.full((1, 3, 3, 3), -0.25)
    w_pred = torch.randn(1, 2, 3, 3)  # warping a constant frame gives the same constant
    confidence = torch.zeros(1, 1, 3, 3)
    confidence[..., 0, :] = 1  # the first row of 3 of 9 pixels
    assert warp_loss(prev, real, w_pred, confidence).item() == pytest.approx(0.75 * 3 / 9)
    assert warp_loss(prev, real, w_pred).item() == pytest.approx(0.75)


def test_warp_loss_is_zero_for_the_true_flow_and_trains_the_predicted_flow():
    # A horizontal ramp moving one pixel to the right per frame: x_t(x) = x_{t-1}(x - 1).
    ramp = torch.linspace(-1, 1, 8).view(1, 1, 1, 8).expand(1, 3, 6, 8)
    real = torch.roll(ramp, shifts=1, dims=3)
    confidence = torch.ones(1, 1, 6, 8)
    confidence[..., 0] = 0  # the wrapped-around column cannot be explained by any flow
    true_flow = torch.zeros(1, 2, 6, 8)
    true_flow[:, 0] = -1
    assert warp_loss(ramp, real, true_flow, confidence).item() == pytest.approx(0.0, abs=1e-6)
    w_pred = torch.zeros(1, 2, 6, 8, requires_grad=True)
    loss = warp_loss(ramp, real, w_pred, confidence)
    loss.backward()
    assert loss.item() > 0
    assert w_pred.grad[:, 0, :, 1:-1].mean() > 0  # decreasing dx (towards -1) lowers the loss


def test_temporal_warp_loss_hand_computed_and_only_trains_the_current_frame():
    prev_fake = torch.full((1, 3, 2, 2), 0.2, requires_grad=True)
    fake = torch.tensor([0.2, 0.6, -0.2, 0.2]).view(1, 1, 2, 2).repeat(1, 3, 1, 1).requires_grad_()
    w_gt = torch.zeros(1, 2, 2, 2)
    confidence = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])
    loss = temporal_warp_loss(fake, prev_fake, w_gt, confidence)
    # |0.2 - 0.2| + |0.6 - 0.2| + (masked) + |0.2 - 0.2| per channel, averaged over 3 x 4 elements.
    assert loss.item() == pytest.approx(3 * 0.4 / 12)
    loss.backward()
    assert prev_fake.grad is None
    assert fake.grad.abs().sum() > 0


def test_temporal_warp_loss_uses_the_ground_truth_flow():
    prev_fake = torch.arange(16.0).view(1, 1, 4, 4).repeat(1, 3, 1, 1)
    fake = torch.roll(prev_fake, shifts=-1, dims=2)  # content moves up: came from one row below
    w_gt = torch.zeros(1, 2, 4, 4)
    w_gt[:, 1] = 1
    confidence = torch.ones(1, 1, 4, 4)
    confidence[..., -1, :] = 0  # the wrapped-around row
    assert temporal_warp_loss(fake, prev_fake, w_gt, confidence).item() == pytest.approx(0.0, abs=1e-5)
    assert temporal_warp_loss(fake, prev_fake, torch.zeros_like(w_gt), confidence).item() > 1


def test_mask_loss_pushes_the_occlusion_mask_to_zero_where_flow_is_confident():
    mask = torch.tensor([[[[0.2, 0.8], [0.5, 0.1]]]], requires_grad=True)
    confidence = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])
    loss = mask_loss(mask, confidence)
    assert loss.item() == pytest.approx((0.2 + 0.5) / 4)
    loss.backward()
    torch.testing.assert_close(mask.grad, confidence / 4)


def test_default_weights_are_the_reference_ones():
    w = LossConfig()  # the weights live in the config alone; the GAN terms are unweighted (1)
    assert (w.lambda_feat, w.lambda_vgg) == (10, 10)
    assert (w.lambda_flow, w.lambda_warp, w.lambda_temporal, w.lambda_mask) == (10, 10, 10, 1)
