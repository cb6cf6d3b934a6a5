"""`python -m llmtriage_train.verifier`: see train.py."""

from llmtriage_train.verifier.train import main

raise SystemExit(main())
