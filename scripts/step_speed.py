"""Training-step speed of this checkout against another commit, as ratios measured in one sitting.

    git worktree add /tmp/base 1af68b1
    python scripts/step_speed.py --base /tmp/base                      # quick preset, all five variants, 1 thread
    python scripts/step_speed.py --base /tmp/base --threads 2 --rounds 7 --json runs/step_speed.json

Two worker processes (one per code tree, imported through PYTHONPATH, `--threads` torch threads each) build the same
training — `cmadepth.train.build_training` at the preset's shape, same seeds — and are asked in turn, A B B A A B …,
to time `--steps` steps. By default a step is what `cmadepth-train` runs: the next batch of the augmented, shuffled
training loader (`make_loader`, the preset's `num_workers`), `train_step`, the scheduler step; both trees draw the same
batches. `--no-loading` times `train_step` on one fixed batch instead. Each round gives one base/new time ratio per
variant; the median over rounds and their range are reported (speed-up > 1: this checkout is faster), with each
tree's median step time and the ratio of each variant to Monodepth2 in the same tree. `--clock cpu` times each step
by the worker's CPU time instead of the elapsed time: on a machine that other jobs keep busy (a niced comparison gets a
few per cent of a core) the elapsed time mostly measures the scheduler, the CPU time still the step.
Only one comparison at a time gives meaningful numbers: the two workers share the machine with whatever else runs."""
import argparse, json, os, statistics, subprocess, sys
from pathlib import Path

WORKER = r'''
import sys, json, time, torch
torch.set_num_threads(int(sys.argv[1]))
from cmadepth.config import Config
from cmadepth.train import build_training, train_step
try: from cmadepth.loader import make_loader, set_loader_epoch
except ImportError: from cmadepth.kitti import make_loader, set_loader_epoch   # a base commit before the loader notebook
state = {}
def setup(cmd):
    cfg = Config.make(cmd['variant'], cmd['preset'], pretrained=False, data_path=cmd['data'])
    loader = make_loader(cfg, 'train', augment=True, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    d, p, opt, sched = build_training(cfg, torch.device('cpu'), steps_per_epoch=len(loader))
    d.train(); p.train()
    st = dict(cfg=cfg, loader=loader, it=iter(loader), epoch=0, d=d, p=p, opt=opt, sched=sched, k=0)
    st['fixed'] = next(iter(loader))
    return st
def batch(st):
    try: return next(st['it'])
    except StopIteration:
        st['epoch'] += 1; set_loader_epoch(st['loader'], st['epoch']); st['it'] = iter(st['loader']); return next(st['it'])
def step(st, loading):
    b = batch(st) if loading else st['fixed']
    train_step(st['cfg'], b, st['d'], st['p'], st['opt'], step=st['k']); st['sched'].step(); st['k'] += 1
for line in sys.stdin:
    cmd = json.loads(line)
    v = cmd['variant']
    if v not in state:
        state[v] = setup(cmd); step(state[v], cmd['loading'])        # warm-up step
    t, c = time.perf_counter(), time.process_time()
    for _ in range(cmd['steps']): step(state[v], cmd['loading'])
    print(json.dumps(dict(seconds=(time.perf_counter() - t) / cmd['steps'], cpu_seconds=(time.process_time() - c) / cmd['steps'])), flush=True)
'''

VARIANTS = ['monodepth2', 'semantics', 'cma', 'sgt', 'full']

def _worker(tree, threads):
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.Popen([sys.executable, '-c', WORKER, str(threads)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env, cwd=str(Path(tree).resolve()))

def _ask(proc, **cmd):
    proc.stdin.write(json.dumps(cmd) + '\n'); proc.stdin.flush()
    line = proc.stdout.readline()
    if not line: raise RuntimeError('a worker died (see its error above)')
    r = json.loads(line)
    return r['cpu_seconds' if cmd.get('clock') == 'cpu' else 'seconds']

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--base', required=True, help='checkout of the commit to compare against (e.g. git worktree add /tmp/base 1af68b1)')
    ap.add_argument('--new', default=str(Path(__file__).resolve().parents[1]), help='checkout to measure (default: this one)')
    ap.add_argument('--variants', nargs='+', default=VARIANTS)
    ap.add_argument('--preset', default='quick', help='the preset whose shape, batch and loader are used (quick, cpu, tiny)')
    ap.add_argument('--data', default='', help="synthetic data folder (default: this checkout's data/synthetic; it must exist)")
    ap.add_argument('--rounds', type=int, default=5); ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--no-loading', action='store_true', help='time train_step on one fixed batch (no data loading)')
    ap.add_argument('--clock', default='wall', choices=['wall', 'cpu'],
                    help="wall: elapsed time (steps per second); cpu: the worker's CPU time (process_time), the cost of a step "
                         "independent of how much of the machine other jobs take (1 thread: ≈ its wall time on an idle machine)")
    ap.add_argument('--json', default='', help='also write the rows to this JSON file')
    a = ap.parse_args(argv)
    for t in (a.base, a.new):
        if not (Path(t)/'cmadepth').is_dir(): sys.exit(f"{t}: no cmadepth/ package there (make one with git worktree add)")
    data = Path(a.data or Path(a.new)/'data'/'synthetic').resolve()
    if not (data/'manifest.json').exists(): sys.exit(f"--data {data}: no synthetic data there (cmadepth-synth --out {data})")
    bad = [v for v in a.variants if v not in VARIANTS]
    if bad: sys.exit(f"--variants {bad}: allowed are {', '.join(VARIANTS)}")
    procs = dict(base=_worker(a.base, a.threads), new=_worker(a.new, a.threads))
    t = {v: dict(base=[], new=[]) for v in a.variants}
    try:
        for r in range(a.rounds):                        # every round visits every variant, the order of the trees alternates
            for i, v in enumerate(a.variants):
                for k in (('base', 'new') if (r + i) % 2 == 0 else ('new', 'base')):
                    t[v][k].append(_ask(procs[k], variant=v, steps=a.steps, preset=a.preset, data=str(data),
                                        loading=not a.no_loading, clock=a.clock))
            print(f"round {r + 1}/{a.rounds} (base/new s per step, ratio): " + '  '.join(
                f"{v} {t[v]['base'][-1]:.3f}/{t[v]['new'][-1]:.3f} {t[v]['base'][-1] / t[v]['new'][-1]:.3f}×" for v in a.variants),
                  file=sys.stderr, flush=True)
    finally:
        for p in procs.values(): p.stdin.close(); p.wait(timeout=120)
    rows, med = [], statistics.median
    for v in a.variants:
        ratios = [b / n for b, n in zip(t[v]['base'], t[v]['new'])]
        rows.append(dict(variant=v, preset=a.preset, threads=a.threads, loading=not a.no_loading, clock=a.clock, rounds=a.rounds, steps=a.steps,
                         base_s=med(t[v]['base']), new_s=med(t[v]['new']), speedup=med(ratios),
                         speedup_min=min(ratios), speedup_max=max(ratios), ratios=[round(x, 3) for x in ratios]))
    ref = next((r for r in rows if r['variant'] == 'monodepth2'), None)
    for r in rows:
        if ref: r['base_x_md2'], r['new_x_md2'] = r['base_s'] / ref['base_s'], r['new_s'] / ref['new_s']
    print(f"preset {a.preset}, {a.threads} thread(s), {'with' if not a.no_loading else 'without'} data loading, {a.clock} clock, "
          f"{a.rounds} rounds × {a.steps} steps; base {a.base}, new {a.new}")
    print(f"{'variant':12s} {'base s/step':>11s} {'new s/step':>10s} {'speed-up':>9s} {'range':>13s} {'base/md2':>8s} {'new/md2':>8s}")
    for r in rows:
        print(f"{r['variant']:12s} {r['base_s']:11.3f} {r['new_s']:10.3f} {r['speedup']:8.3f}× {r['speedup_min']:6.3f}–{r['speedup_max']:.3f}"
              f" {r.get('base_x_md2', float('nan')):8.2f} {r.get('new_x_md2', float('nan')):8.2f}")
    if a.json:
        p = Path(a.json); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(json.dumps(rows, indent=1))
    return rows

if __name__ == '__main__': main()
