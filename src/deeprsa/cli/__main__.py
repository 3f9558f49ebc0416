"""``python -m deeprsa.cli``: the ``deeprsa`` command line, for when the script is not on PATH."""

from . import main

main()
