"""The measurement options a job may carry: the agent's own `run` options, less those that name files or the
device (the agent chooses where its bundle and result live, and the server chooses the device's name)."""

from __future__ import annotations

from typing import List

from device_agent.cli import build_parser

# Also refused by the agent itself (device_agent/work.py): a job never picks a path on the device.
RESERVED = ("--out", "--resume", "--device-name", "--quiet", "--help", "-h")


def run_options() -> List[str]:
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    return sorted(flag for flag in commands.choices["run"]._option_string_actions if flag not in RESERVED)


def check_args(args: List[str]) -> List[str]:
    """ValueError naming the first option a job may not carry; the values are checked by the agent's parser
    on the device (and by `edgebench bench` before it submits)."""
    allowed = set(run_options())
    for arg in args:
        if len(arg) > 200 or not arg.isprintable():
            raise ValueError(f"argument '{arg[:40]}' is not valid: printable text of at most 200 characters")
        flag = arg.split("=", 1)[0]
        if arg.startswith("-") and flag not in allowed and not _number(arg):
            raise ValueError(f"option '{flag[:40]}' is not a measurement option a job may carry: give options of "
                             f"`device-agent run` other than {', '.join(RESERVED[:4])}")
    if args and not args[0].startswith("--"):
        raise ValueError(f"'{args[0][:40]}' is not an option: a job carries options only, the bundle is its own")
    return args


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
