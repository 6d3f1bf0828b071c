"""What the five console scripts share: options that mean the same everywhere, install hints.

:mod:`matt.cli_common` is the entry every command imports (``run_cli``, the command
decorators); :mod:`matt.cli.options` holds the reusable option groups and
:mod:`matt.cli.extras` which pip extra brings which optional library.
"""
