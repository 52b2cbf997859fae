"""Training-step speed of this checkout against another commit, as a ratio measured in one sitting.

    git worktree add /tmp/base 1af68b1
    python scripts/step_speed.py --base /tmp/base --variants monodepth2 full --rounds 5

Two worker processes (one per code tree, imported through PYTHONPATH, 1 thread each unless --threads) build the
same step — `cmadepth.train.build_training` + `train_step` on `cmadepth.bench.synthetic_batch`, same seeds and
shape (default: the quick preset, 64×224, batch 2) — and are asked in turn, A B A B …, to time `--steps` steps.
Each round gives one base/new time ratio; the median over rounds is reported (speed-up > 1: this checkout is faster).
Data loading is not included (see `python -m cmadepth.bench` for that)."""
import argparse, json, os, statistics, subprocess, sys
from pathlib import Path

WORKER = r'''
import sys, json, time, torch
torch.set_num_threads(int(sys.argv[1]))
from cmadepth import bench
from cmadepth.train import build_training, train_step
steps = {}
for line in sys.stdin:
    cmd = json.loads(line)
    v = cmd['variant']
    if v not in steps:
        cfg = bench.make_config(v, height=cmd['height'], width=cmd['width'], batch_size=cmd['batch'])
        torch.manual_seed(0)
        d, p, opt, sched = build_training(cfg, torch.device('cpu'), steps_per_epoch=1000)
        batch = bench.synthetic_batch(cfg, cmd['batch'], seed=0)
        steps[v] = lambda cfg=cfg, batch=batch, d=d, p=p, opt=opt: train_step(cfg, batch, d, p, opt)
        steps[v]()                                   # warm-up
    t = time.perf_counter()
    for _ in range(cmd['steps']): steps[v]()
    print(json.dumps(dict(seconds=(time.perf_counter() - t) / cmd['steps'])), flush=True)
'''

def _worker(tree, threads):
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.Popen([sys.executable, '-c', WORKER, str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=str(Path(tree).resolve()))

def _ask(proc, **cmd):
    proc.stdin.write(json.dumps(cmd) + '\n'); proc.stdin.flush()
    line = proc.stdout.readline()
    if not line: raise RuntimeError('a worker died (see its error above)')
    return json.loads(line)['seconds']

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--base', required=True, help='checkout of the commit to compare against (e.g. git worktree add /tmp/base 1af68b1)')
    ap.add_argument('--new', default=str(Path(__file__).resolve().parents[1]), help='checkout to measure (default: this one)')
    ap.add_argument('--variants', nargs='+', default=['monodepth2', 'full'])
    ap.add_argument('--rounds', type=int, default=5); ap.add_argument('--steps', type=int, default=2)
    ap.add_argument('--height', type=int, default=64); ap.add_argument('--width', type=int, default=224)
    ap.add_argument('--batch', type=int, default=2); ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)
    if not (Path(a.base)/'cmadepth').is_dir(): sys.exit(f"--base {a.base}: no cmadepth/ package there (make one with git worktree add)")
    procs = dict(base=_worker(a.base, a.threads), new=_worker(a.new, a.threads))
    rows = []
    try:
        for v in a.variants:
            t = dict(base=[], new=[])
            for r in range(a.rounds):
                for k in (('base', 'new') if r % 2 == 0 else ('new', 'base')):
                    t[k].append(_ask(procs[k], variant=v, steps=a.steps, height=a.height, width=a.width, batch=a.batch))
            ratios = [b / n for b, n in zip(t['base'], t['new'])]
            rows.append(dict(variant=v, base_s=statistics.median(t['base']), new_s=statistics.median(t['new']),
                             speedup=statistics.median(ratios), ratios=[round(x, 3) for x in ratios]))
            print(f"{v:24s} base {rows[-1]['base_s']:.3f} s/step  new {rows[-1]['new_s']:.3f} s/step  "
                  f"speed-up (median of {a.rounds} paired rounds) {rows[-1]['speedup']:.3f}×  {rows[-1]['ratios']}", flush=True)
    finally:
        for p in procs.values(): p.stdin.close(); p.wait(timeout=60)
    return rows

if __name__ == '__main__': main()
