import sys

from sowcast.parent_death import die_with_parent_at_start

die_with_parent_at_start()  # a service step or a torchrun rank ends with its parent (sowcast.parent_death)

from sowcast.cli.main import main  # noqa: E402

sys.exit(main())
