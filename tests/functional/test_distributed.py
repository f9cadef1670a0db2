"""Multi-process training: only rank 0 writes, unless asked for one file per rank.

Real runs: ``torchrun`` (``python -m torch.distributed.run``) starting two CPU processes that
train a tiny LSTM with DistributedDataParallel over gloo, logging through ``lstm_top.Logger``
(which learns its rank from ``RANK``); and Lightning's ``ddp_fork`` with two CPU devices, which
(like ``ddp_spawn``) sets no ``RANK`` variable, through the Lightning callback. Fork rather than
spawn only because spawned children import torch and Lightning again: 40 s instead of a few.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch not installed (pip install lstm-top[torch])")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("this torch build has no gloo backend for torch.distributed",
                allow_module_level=True)

from lstm_top.sources.formats import read_history  # noqa: E402

pytestmark = pytest.mark.slow
EPOCHS = 2

TRAINING_SCRIPT = textwrap.dedent('''
    import os
    import sys

    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from lstm_top import Logger

    path, per_rank = sys.argv[1], sys.argv[2] == "per_rank"
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(1, 8, batch_first=True)
            self.head = torch.nn.Linear(8, 1)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    model = DistributedDataParallel(Net())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(rank)  # each rank its own shard
    x = torch.randn(32, 5, 1, generator=generator)
    y = x.sum(dim=1)
    logger = Logger(path, run_name="ddp", config={"world_size": world}, per_rank=per_rank)
    for epoch in range(1, EPOCHS + 1):
        total = torch.zeros(())
        for start in range(0, 32, 8):
            loss = torch.nn.functional.mse_loss(model(x[start:start + 8]), y[start:start + 8])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach()
        mean = total / 4
        local = mean.item()
        dist.all_reduce(mean)
        logger.log(epoch=epoch, loss=mean.item() / world, local_loss=local, rank=rank)
    logger.close()
    dist.barrier()
    dist.destroy_process_group()
    # torch 2.13's gloo teardown sometimes aborts at interpreter exit on a loaded machine
    # ("terminate called without an active exception", SIGABRT) after all work is done; the
    # history is on disk already (unbuffered writes), so leave without C++ static destructors.
    sys.stdout.flush()
    os._exit(0)
''').replace("EPOCHS", str(EPOCHS))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def torchrun(tmp_path: Path, mode: str) -> Path:
    script = tmp_path / "train_ddp.py"
    script.write_text(TRAINING_SCRIPT)
    path = tmp_path / "run.jsonl"
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "SLURM_PROCID")}
    env["OMP_NUM_THREADS"] = "1"  # two processes on a two-core machine
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(script), str(path), mode],
        capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    return path


def test_torchrun_two_processes_write_one_file_from_rank_zero(tmp_path: Path) -> None:
    path = torchrun(tmp_path, "rank0")
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["run.jsonl"]
    history = read_history(path)
    assert history.headers_seen == 1  # one writer, not two interleaved
    assert list(history.epochs.index) == list(range(1, EPOCHS + 1))
    assert set(history.epochs.column("rank")) == {0}
    assert history.end_status == "completed"
    assert history.config["world_size"] == 2


def test_torchrun_per_rank_writes_one_file_per_rank(tmp_path: Path) -> None:
    path = torchrun(tmp_path, "per_rank")
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["run.jsonl", "run.rank1.jsonl"]
    rank0, rank1 = read_history(path), read_history(tmp_path / "run.rank1.jsonl")
    for rank, history in enumerate((rank0, rank1)):
        assert set(history.epochs.column("rank")) == {rank}
        assert list(history.epochs.index) == list(range(1, EPOCHS + 1))
        assert history.end_status == "completed"
    # The all-reduced loss is the same on both ranks; each rank's own loss is its own.
    assert list(rank0.epochs.column("loss")) == pytest.approx(list(rank1.epochs.column("loss")))
    assert list(rank0.epochs.column("local_loss")) != list(rank1.epochs.column("local_loss"))


@pytest.mark.parametrize("per_rank", [False, True], ids=["rank0", "per_rank"])
def test_lightning_ddp_fork_two_cpu_processes(tmp_path: Path, per_rank: bool) -> None:
    pytest.importorskip("lightning", reason="lightning not installed")
    from lstm_top.lightning import LstmTopCallback
    from tests.functional.test_lightning import TinyLstm, loader, sequences, trainer

    path = tmp_path / "run.jsonl"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer([LstmTopCallback(str(path), per_rank=per_rank)], EPOCHS, devices=2,
                strategy="ddp_fork").fit(TinyLstm(), loader(sequences(64, 0)),
                                          loader(sequences(32, 1)))
    expected = ["run.jsonl", "run.rank1.jsonl"] if per_rank else ["run.jsonl"]
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == expected
    for name in expected:
        history = read_history(tmp_path / name)
        assert history.headers_seen == 1
        assert list(history.epochs.index) == list(range(1, EPOCHS + 1))
        assert history.config["world_size"] == 2
        assert history.end_status == "completed"


def test_per_rank_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rank goes before the extension, never into a dotted folder name."""
    from lstm_top import Logger

    monkeypatch.setenv("RANK", "3")
    dotted = tmp_path / "v1.2"
    dotted.mkdir()
    assert Logger(dotted / "run.jsonl", per_rank=True).path == str(dotted / "run.rank3.jsonl")
    assert Logger(dotted / "run", per_rank=True).path == str(dotted / "run.rank3")
    assert not Logger(dotted / "quiet.jsonl").enabled  # rank 3, not per rank: silent
    # A framework that knows better (ddp_spawn sets no RANK) overrides the environment.
    assert Logger(dotted / "zero.jsonl", rank=0).enabled
    assert Logger(dotted / "x.jsonl", per_rank=True, rank=1).path == str(dotted / "x.rank1.jsonl")
