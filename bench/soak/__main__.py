from bench.soak.platform import main

raise SystemExit(main())
