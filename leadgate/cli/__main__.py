"""``python -m leadgate.cli``: what ``leadgate dev`` starts its worker with."""

from leadgate.cli import main

main()
