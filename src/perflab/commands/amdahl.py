"""`perflab amdahl --fraction P [--speedup S]`."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fraction", "-p", type=float, required=True,
                        help="share of the run time the optimized part takes (0..1)")
    parser.add_argument("--speedup", "-s", type=float,
                        help="how many times faster that part becomes (omit for the limit)")


def main(args: argparse.Namespace) -> int:
    from perflab.measure import overall_speedup, speedup_limit

    limit = speedup_limit(args.fraction)
    share = f"{args.fraction * 100:g}%"
    if args.speedup is not None:
        total = overall_speedup(args.fraction, args.speedup)
        print(f"a part taking {share} of the time made {args.speedup:g}x faster: "
              f"{total:.4g}x overall")
    print(f"limit (that part made infinitely fast): {limit:.4g}x overall")
    return 0
