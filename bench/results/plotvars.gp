runtimes = "containy crun runc"
