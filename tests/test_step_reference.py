"""A training step's losses and gradient norms equal a frozen reference copy of the loss as of commit 1af68b1
(before the speed work): every variant, on fixed tensors and on the real networks."""
import torch
import torch.nn.functional as F
import pytest
from cmadepth.config import Config, VARIANTS, stage_of_layer
from cmadepth.geometry import backproject, project, warp, photometric_error
from cmadepth.layers import disp_to_depth
from cmadepth.sgt import sgt_parts, VOID
from cmadepth.losses import compute_losses, smoothness_term, cross_entropy, _fake_inputs

# ---- reference: the loss of commit 1af68b1, copied verbatim (per scale, per frame, weighting inline) ----
def _ref_reprojection(cfg, batch, out, poses):
    target = batch.image
    B, _, H, W = target.shape
    nb = len(cfg.frame_ids) - 1
    with torch.no_grad():
        identity = torch.cat([photometric_error(batch.neighbours[:, j], target, cfg.ssim_weight) for j in range(nb)], 1)
    total, diag = target.new_zeros(()), {}
    for s in cfg.scales:
        disp = out.disps[s].float()
        if disp.shape[-2:] != (H, W): disp = F.interpolate(disp, (H, W), mode='bilinear', align_corners=False)
        _, depth = disp_to_depth(disp, cfg.min_depth, cfg.max_depth)
        points = backproject(depth, batch.inv_K)
        errors = []
        for j, f in enumerate(cfg.frame_ids[1:]):
            grid = project(points, batch.K, poses[f].float(), H, W)
            errors.append(photometric_error(warp(batch.neighbours[:, j], grid), target, cfg.ssim_weight))
        noisy = identity + 1e-5 * torch.randn_like(identity)
        best, idx = torch.cat(errors + [noisy], 1).min(1)
        m = best.mean()
        total = total + m / 2**s
        diag[f'photometric_s{s}'] = m.detach()
        if s == cfg.scales[0]: diag['automask_frac'] = (idx >= nb).float().mean()
    return total, diag

def reference_losses(cfg, batch, out, poses):
    zero = batch.image.new_zeros(())
    ph, diag = _ref_reprojection(cfg, batch, out, poses)
    sm = zero
    for s in cfg.scales:
        t = smoothness_term(out.disps[s].float(), batch.pyramid[s]) / 2**s
        diag[f'smoothness_s{s}'] = t.detach(); sm = sm + t
    ce = sgt = zero
    if cfg.semantics and out.seg_logits is not None and batch.label is not None:
        ce = cross_entropy(out.seg_logits, batch.label)
    if cfg.sgt:
        feats = {stage_of_layer(l): out.depth_features[stage_of_layer(l)].float() for l in cfg.sgt_layers if stage_of_layer(l) in out.depth_features}
        for l, (loss, n) in sgt_parts(feats, batch.label, sgt_layers=cfg.sgt_layers, sgt_kernel=cfg.sgt_kernel, sgt_margin=cfg.sgt_margin, sgt_exact=cfg.sgt_exact).items():
            sgt = sgt + loss / 2**stage_of_layer(l)
            diag[f'sgt_l{l}'] = loss.detach()
    total = ph + cfg.smooth_weight * sm + (cfg.ce_weight * ce if cfg.semantics else zero) + (cfg.sgt_weight * sgt if cfg.sgt else zero)
    return dict(total=total, photometric=ph, smoothness=sm, ce=ce, sgt=sgt, **diag)

def _compare(a:dict, b:dict, tol=1e-5):
    for k, v in b.items():
        assert k in a, f"part {k} missing"
        assert torch.allclose(a[k].detach().float(), v.detach().float(), rtol=tol, atol=tol), (k, a[k], v)

def _leaf_grads(loss, leaves):
    gs = torch.autograd.grad(loss, leaves, allow_unused=True)
    return torch.stack([g.norm() if g is not None else torch.zeros(()) for g in gs])

@pytest.mark.parametrize('variant', VARIANTS)
def test_losses_and_gradients_match_reference(variant):
    cfg = Config.make(variant, 'tiny')
    batch, out, poses = _fake_inputs(cfg, B=2, H=64, W=96, seed=1)
    leaves = list(out.disps.values()) + ([out.seg_logits] if out.seg_logits is not None else []) + list(out.depth_features.values())
    torch.manual_seed(0); new = compute_losses(cfg, batch, out, poses)
    torch.manual_seed(0); ref = reference_losses(cfg, batch, out, poses)
    _compare(new, ref)
    g_new, g_ref = _leaf_grads(new['total'], leaves), _leaf_grads(ref['total'], leaves)
    assert g_ref.sum() > 0
    assert torch.allclose(g_new, g_ref, rtol=1e-3, atol=1e-7), (g_new, g_ref)   # float32 reassociation: ~1e-4 seen

@pytest.mark.parametrize('variant', ['monodepth2', 'full'])
def test_network_step_matches_reference(variant):
    "The same networks and batch: the total loss and the gradient norm of every parameter tensor agree."
    from cmadepth.model import DepthNet, PoseNet, predict_poses
    from cmadepth.bench import synthetic_batch
    cfg = Config.make(variant, 'tiny', pretrained=False)
    torch.manual_seed(0)
    depth, pose = DepthNet(cfg).train(), PoseNet(cfg).train()
    batch = synthetic_batch(cfg, 2, seed=3)
    params = [p for m in (depth, pose) for p in m.parameters()]
    norms = {}
    for name, fn in (('new', compute_losses), ('ref', reference_losses)):
        torch.manual_seed(1)
        out = depth(batch.image_aug); poses = predict_poses(pose, batch, cfg)
        total = fn(cfg, batch, out, poses)['total']
        norms[name] = (total.detach(), _leaf_grads(total, params))
    assert torch.allclose(norms['new'][0], norms['ref'][0], rtol=1e-5)
    assert torch.allclose(norms['new'][1], norms['ref'][1], rtol=1e-3, atol=1e-8)

@pytest.mark.parametrize('variant', ['monodepth2', 'full'])
def test_training_networks_match_plain_networks(variant):
    """`build_training`'s CPU networks (small feature maps' convolution gradients as im2col matrix products,
    `layers.gemm_backward_convs_`) give the plain networks' loss and every parameter's gradient, at the quick preset's
    size where the deepest stages have ≤ 64 output positions."""
    from cmadepth.model import DepthNet, PoseNet, predict_poses
    from cmadepth.bench import synthetic_batch
    from cmadepth.train import build_training
    from cmadepth.layers import GemmBackwardConv2d
    cfg = Config.make(variant, 'quick', pretrained=False)
    torch.manual_seed(0); plain = (DepthNet(cfg).train(), PoseNet(cfg).train())
    torch.manual_seed(0); d, p, _, _ = build_training(cfg, torch.device('cpu'), steps_per_epoch=10)
    assert sum(type(m) is GemmBackwardConv2d for m in d.modules()) > 10 and not any(type(m) is GemmBackwardConv2d for m in plain[0].modules())
    batch = synthetic_batch(cfg, 2, seed=3)
    res = []
    for depth, pose in (plain, (d.train(), p.train())):
        torch.manual_seed(1)
        total = compute_losses(cfg, batch, depth(batch.image_aug), predict_poses(pose, batch, cfg))['total']
        params = [q for m in (depth, pose) for q in m.parameters()]
        res.append((total.detach(), torch.autograd.grad(total, params, allow_unused=True)))
    assert torch.equal(res[0][0], res[1][0])                        # the forward is the same convolution
    n = 0
    for g0, g1 in zip(res[0][1], res[1][1]):
        assert (g0 is None) == (g1 is None)
        if g0 is None: continue
        assert torch.allclose(g0, g1, rtol=1e-3, atol=1e-4 * float(g0.abs().max()) + 1e-12), float((g0 - g1).abs().max())
        n += 1
    assert n > 100

def test_training_pose_pass_matches_per_pair_calls():
    "The training pose network's one batched pass (per-pair BatchNorm) gives the per-pair calls' poses, gradients and running statistics."
    from cmadepth.model import DepthNet, PoseNet, predict_poses
    from cmadepth.bench import synthetic_batch
    from cmadepth.train import build_training
    cfg = Config.make('monodepth2', 'quick', pretrained=False)
    torch.manual_seed(0); DepthNet(cfg); plain = PoseNet(cfg).train()       # build_training's order of construction
    torch.manual_seed(0); _, pose, _, _ = build_training(cfg, torch.device('cpu'), steps_per_epoch=10)
    batch = synthetic_batch(cfg, 2, seed=4)
    res = []
    for net in (plain, pose.train()):
        Ts = predict_poses(net, batch, cfg)
        loss = sum((T * (k + 1)).sum() for k, T in enumerate(Ts.values()))
        res.append((Ts, torch.autograd.grad(loss, list(net.parameters()), allow_unused=True), {k: b.clone() for k, b in net.state_dict().items()}))
    for f in cfg.frame_ids[1:]: assert torch.allclose(res[0][0][f], res[1][0][f], atol=1e-6), f
    for g0, g1 in zip(res[0][1], res[1][1]):
        assert (g0 is None) == (g1 is None)
        if g0 is not None: assert torch.allclose(g0, g1, rtol=1e-3, atol=1e-4 * float(g0.abs().max()) + 1e-12)
    for k, b in res[0][2].items(): assert torch.allclose(b.float(), res[1][2][k].float(), rtol=1e-5, atol=1e-6), k
