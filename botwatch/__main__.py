"""``python -m botwatch`` is the ``botwatch`` command."""

from botwatch.cli import main

main()
