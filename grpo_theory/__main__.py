"""``python -m grpo_theory`` is the ``grpo-theory`` command."""

from grpo_theory.cli import main

raise SystemExit(main())
