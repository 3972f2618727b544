"""``python kill_switch.py TOOL ARGS...``: run ``tools/TOOL`` as
``python tools/TOOL ARGS`` would, and SIGKILL the process at the moment named
by the environment variable ``PADSEG_KILL_AT``:

* ``write:<name>`` — while the file ``<name>`` is being written: its
  ``.part`` file is cut to half its size, then the kill (before the rename);
* ``step:<n>`` — in iteration ``n`` (1-based), after the backward pass and
  before the optimizer step.

The kill is a real SIGKILL (no clean-up runs); only its moment is chosen, so
the tests are deterministic.
"""
import os
import os.path as osp
import runpy
import signal
import sys

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def kill_now():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(kill_at: str) -> None:
    kind, _, arg = kill_at.partition(':')
    if kind == 'write':
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if osp.basename(str(dst)) == arg:
                with open(src, 'r+b') as f:
                    f.truncate(osp.getsize(src) // 2)
                kill_now()
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
    elif kind == 'step':
        from mmengine.logging import MessageHub
        from mmengine.optim import OptimWrapper
        real_step = OptimWrapper.step

        def step(self, **kwargs):
            iteration = MessageHub.get_current_instance().get_info('iter') + 1
            if iteration == int(arg):
                kill_now()
            return real_step(self, **kwargs)

        OptimWrapper.step = step
    elif kind:
        raise ValueError(f'unknown PADSEG_KILL_AT {kill_at!r}')


if __name__ == '__main__':
    sys.path.insert(0, REPO)
    import padseg.engine  # noqa: F401,E402  (registers hooks)
    arm(os.environ.get('PADSEG_KILL_AT', ''))
    tool = osp.join(REPO, 'tools', sys.argv[1])
    sys.argv = [tool] + sys.argv[2:]
    runpy.run_path(tool, run_name='__main__')
