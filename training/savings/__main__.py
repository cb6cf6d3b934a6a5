"""`python -m llmtriage_train.savings`: see measure.py."""

from llmtriage_train.savings.measure import main

raise SystemExit(main())
