"""Killing the installed `cmadepth-reproduce` mid-run: its children (notebook kernels included) are gone,
the previous tables are intact and no temporary file is left (issue 14, "Results not safe")."""
import os, shutil, signal, subprocess, sys, time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script(name):
    exe = Path(sys.executable).parent/name
    if not exe.exists(): pytest.skip(f"{name} is not installed next to {sys.executable}")
    return str(exe)


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob('*')) if p.is_file()}


def test_kill_reproduce_stops_children_and_keeps_tables(tmp_path):
    results = tmp_path/'results'; results.mkdir()
    for p in (ROOT/'results').iterdir():              # the previous tables and figures, as a user's results/ holds them
        if p.is_file() and p.suffix in ('.md', '.csv', '.png'): shutil.copy2(p, results/p.name)
    assert any(results.glob('table1_*.md'))
    before = _snapshot(results)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env.pop('IN_TEST', None)                           # a real run: it writes into `results`, not a test folder
    proc = subprocess.Popen([_script('cmadepth-reproduce'), '--preset', 'tiny', '--only', 'table1', '--jobs', '1',
                             '--results-dir', str(results)], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        me, kernel, t0 = psutil.Process(proc.pid), None, time.time()
        while kernel is None and time.time() - t0 < 90 and proc.poll() is None:
            time.sleep(0.2)
            try: kids = me.children(recursive=True)
            except psutil.NoSuchProcess: break
            for k in kids:
                try:
                    if 'ipykernel' in ' '.join(k.cmdline()): kernel = k
                except psutil.NoSuchProcess: pass
        assert kernel is not None, f"no notebook kernel started within 90 s (rc {proc.poll()})"
        tree = me.children(recursive=True)
        assert proc.poll() is None, "the job ended before it could be killed"
        assert kernel.pid != proc.pid and os.getpgid(kernel.pid) != proc.pid   # the kernel is in a session of its own
        os.kill(proc.pid, signal.SIGTERM)              # the main job only, as `kill PID` does
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert 'Traceback' not in err and 'interrupted' in err, err[-2000:]
    time.sleep(0.5)
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"children still running after the kill: {[(p.pid, p.name()) for p in left]}"
    group = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == proc.pid and p.status() != psutil.STATUS_ZOMBIE: group.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess, PermissionError): pass
    assert not group, f"processes of the job's group left: {group}"
    tmp = [str(p.relative_to(results)) for p in results.rglob('*.tmp*')]
    assert not tmp, f"temporary files left: {tmp}"
    after = {k: v for k, v in _snapshot(results).items() if not k.startswith('executed/')}
    assert after == before, f"tables changed: {sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))}"


def _kernel_below(proc, timeout=90):
    t0 = time.time()
    while time.time() - t0 < timeout:
        for k in proc.children(recursive=True):
            try:
                if 'ipykernel' in ' '.join(k.cmdline()): return k
            except psutil.NoSuchProcess: pass
        time.sleep(0.2)


def test_stop_children_ends_parallel_runs_and_blocks_new_ones(tmp_path):
    "The `--jobs N` path: a notebook in a child process (and its kernel) is stopped, and no child starts afterwards."
    import threading
    from cmadepth import reproduce as P
    me = psutil.Process()
    P._STOP.clear(); P._KEEP.clear(); P._KEEP.update(p.pid for p in me.children(recursive=True))
    res = {}
    def run():
        try: res['out'] = P.execute_isolated('table1_decoder', {}, tmp_path/'results', ROOT)
        except BaseException as e: res['err'] = e
    t = threading.Thread(target=run); t.start()
    try:
        assert _kernel_below(me) is not None, "no kernel started within 90 s"
        assert P.stop_children() >= 2                   # the papermill child and its kernel
        t.join(60)
        assert not t.is_alive() and isinstance(res.get('err'), P.NotebookFailed), res
        assert not [p for p in me.children(recursive=True) if p.pid not in P._KEEP]
        with pytest.raises(KeyboardInterrupt): P.execute_isolated('table1_decoder', {}, tmp_path/'results', ROOT)
    finally:
        P._STOP.clear(); P._KEEP.clear()
    assert not (tmp_path/'results'/'executed'/'table1_decoder.ipynb').exists()
    P.clean_temp(tmp_path/'results')                   # what the job does on every exit path
    assert not list((tmp_path/'results').rglob('*.tmp*'))
