"""The command line the interleaved-rounds benchmark scripts share: threads, rounds, time per cell."""

from __future__ import annotations

import argparse


def rounds_parser(doc: str, rounds: int = 3, min_time: float = 2.0) -> argparse.ArgumentParser:
    """A parser with ``--threads``, ``--rounds`` and ``--min-time``; scripts add their own.

    Args:
        doc: the script's docstring (its first line is the description).
        rounds: default number of interleaved rounds.
        min_time: default seconds each cell is timed per round.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads per runner")
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds")
    parser.add_argument(
        "--min-time", type=float, default=min_time, help="seconds each cell is timed per round"
    )
    return parser
