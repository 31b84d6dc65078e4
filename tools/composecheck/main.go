// Command composecheck validates a compose file the way Docker Compose v2 does, without a
// Docker engine: compose-go loads it, checks it against the Compose Specification's JSON
// schema, resolves anchors, merges and interpolation, and checks the model (dependencies
// that exist, healthcheck conditions on services that have one).
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck docker-compose.yml")
		os.Exit(2)
	}
	path, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail(err)
	}
	opts, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithOsEnv,
		cli.WithDotEnv,
		cli.WithName("payportal"),
	)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	for name, svc := range project.Services {
		for dep, cfg := range svc.DependsOn {
			target, ok := project.Services[dep]
			if !ok {
				fail(fmt.Errorf("service %s depends on %s, which does not exist", name, dep))
			}
			// `docker compose up` waits forever on a service_healthy dependency with no check.
			if cfg.Condition == "service_healthy" && (target.HealthCheck == nil || target.HealthCheck.Disable) {
				fail(fmt.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep))
			}
		}
	}
	fmt.Printf("%s is valid: %d services\n", filepath.Base(path), len(project.Services))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "composecheck:", err)
	os.Exit(1)
}
