"""`python -m alprfed` is the `alprfed` command."""

from alprfed.cli.main import main

main()
