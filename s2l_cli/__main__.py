import sys

from s2l_cli.app import main

sys.exit(main())
