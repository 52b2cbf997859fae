"""One run of the data/preset search: render (once) the synthetic data a design names, train the depth network with the
exact (pose_source=gt) or the learned pose, and score it every `--every` steps on all test frames against the layout
prior on the same frames (`cmadepth.pose_eval.test_curve`). Appends one JSON line per scoring to runs/search/results.jsonl.

    python scripts/ceiling.py --tag exact-s1 --speed 1.0 --pose gt --steps 500 --every 125
"""
import argparse, json, math, os, sys, time
from pathlib import Path
import numpy as np

def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--tag', required=True)
    # data design
    ap.add_argument('--speed', type=float, default=0.3); ap.add_argument('--drives', type=int, default=26)
    ap.add_argument('--frames', type=int, default=40); ap.add_argument('--rh', type=int, default=96); ap.add_argument('--rw', type=int, default=320)
    ap.add_argument('--val-drives', type=int, default=2); ap.add_argument('--test-drives', type=int, default=8)
    ap.add_argument('--road-texture', type=float, default=0.0); ap.add_argument('--pitch-sd', type=float, default=0.0); ap.add_argument('--static', action='store_true')
    ap.add_argument('--street-alone', action='store_true', help='clutter=False: no trees, walls, fences, signs, lights, people or traffic — the embedded data, cmadepth-synth\'s default; without it the full street (cmadepth-synth --clutter), so the recorded commands of notebook 19 repeat as they ran')
    ap.add_argument('--warmup-drives', type=int, default=0, help='extra training drives at --warmup-speed (split synth_warmup)')
    ap.add_argument('--warmup-speed', type=float, default=0.3)
    ap.add_argument('--warmup-epochs', type=int, default=0, help='epochs on the warm-up drives before --steps on the main ones')
    ap.add_argument('--data', default='', help='data folder (default: derived from the design)')
    # training
    ap.add_argument('--variant', default='full'); ap.add_argument('--height', type=int, default=64); ap.add_argument('--width', type=int, default=224)
    ap.add_argument('--batch', type=int, default=2); ap.add_argument('--steps', type=int, default=500); ap.add_argument('--every', type=int, default=125)
    ap.add_argument('--lr', type=float, default=2e-4); ap.add_argument('--drop', type=float, default=0.0, help='lr ×0.1 after this fraction of the steps (0: none)')
    ap.add_argument('--pose', default='net'); ap.add_argument('--gt-scale', type=float, default=0.05); ap.add_argument('--pts', type=float, default=0.01)
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--set', nargs='*', default=[], help='extra Config key=value (e.g. disp_bias=none: the rows measured before the presets had the bias)')
    a = ap.parse_args(argv)
    import torch; torch.set_num_threads(a.threads)
    from cmadepth.config import Config
    from cmadepth.synthetic import generate, WARMUP_SPLIT
    from cmadepth.kitti import split_lines
    extra = (f"_rt{a.road_texture}" if a.road_texture else '') + (f"_p{a.pitch_sd}" if a.pitch_sd else '') + ('_static' if a.static else '') + ('_bare' if a.street_alone else '') + (f"_w{a.warmup_drives}x{a.warmup_speed}" if a.warmup_drives else '')
    data = Path(a.data or f"data/search/s{a.speed}_d{a.drives}_f{a.frames}_{a.rh}x{a.rw}{extra}")
    if not (data/'manifest.json').exists():
        t0 = time.time()
        generate(data, drives=a.drives, frames=a.frames, height=a.rh, width=a.rw, speed=a.speed, val_drives=a.val_drives,
                 test_drives=a.test_drives, workers=1, progress=False, road_texture=a.road_texture, pitch_sd=a.pitch_sd, moving=not a.static, clutter=not a.street_alone,
                 warmup_drives=a.warmup_drives, warmup_speed=a.warmup_speed)
        print(f"rendered {data} in {time.time()-t0:.0f} s", flush=True)
    n_train = len(split_lines(data, 'synth', 'train'))
    spe = n_train // a.batch
    warm = a.warmup_epochs * (len(split_lines(data, WARMUP_SPLIT, 'train')) // a.batch if a.warmup_epochs else 0)
    epochs = a.warmup_epochs + math.ceil(a.steps / spe) + 1
    ms = ((warm + a.drop * a.steps) / spe,) if a.drop else ()
    cfg = Config.make(a.variant, 'quick', data_path=str(data), height=a.height, width=a.width, batch_size=a.batch,
                      max_steps=warm + a.steps, epochs=epochs, warmup_split=WARMUP_SPLIT if a.warmup_epochs else '', warmup_epochs=a.warmup_epochs, lr=a.lr, lr_milestones=ms, pose_source=a.pose, gt_pose_scale=a.gt_scale,
                      pose_translation_scale=a.pts, seed=a.seed, log_dir='runs/search', name=a.tag)
    if a.set: cfg = cfg.override(a.set)
    from cmadepth.pose_eval import test_curve
    design = dict(speed=a.speed, road_texture=a.road_texture, static=a.static, clutter=not a.street_alone, pitch_sd=a.pitch_sd, drives=a.drives, frames=a.frames,
                  warmup_drives=a.warmup_drives, warmup_speed=a.warmup_speed if a.warmup_drives else 0.0, warmup_epochs=a.warmup_epochs)
    test_curve(cfg, every=a.every, out='runs/search/results.jsonl', tag=a.tag, design=design,
               command='python scripts/ceiling.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))

if __name__ == '__main__': main()
