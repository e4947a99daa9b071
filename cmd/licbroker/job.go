package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

type jobResultJSON struct {
	Target  string `json:"target"`
	UDI     string `json:"udi"`
	OK      bool   `json:"ok"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	License string `json:"license"`
}

type jobJSON struct {
	ID       string          `json:"id"`
	Tenant   string          `json:"tenant"`
	Kind     string          `json:"kind"`
	State    string          `json:"state"`
	Total    int             `json:"total"`
	Done     int             `json:"done"`
	Failed   int             `json:"failed"`
	Results  []jobResultJSON `json:"results"`
	Created  time.Time       `json:"created"`
	Finished *time.Time      `json:"finished"`
	Error    string          `json:"error"`
}

func newJobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Inspect asynchronous jobs"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List jobs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[jobJSON](newClient(g), "/v1/jobs")
			if err != nil {
				return err
			}
			return g.print(items, jobTable(items...))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "show ID", Short: "Show a job and its per-device results", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var j jobJSON
			if err := newClient(g).do("GET", "/v1/jobs/"+pathEscape(args[0]), nil, &j); err != nil {
				return err
			}
			return g.print(j, jobResultsTable(j))
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "cancel ID", Short: "Cancel a running job", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var j jobJSON
			if err := newClient(g).do("POST", "/v1/jobs/"+pathEscape(args[0])+"/cancel", nil, &j); err != nil {
				return err
			}
			return g.print(j, jobTable(j))
		},
	})
	return cmd
}

func jobTable(js ...jobJSON) *table {
	tb := &table{header: []string{"id", "tenant", "kind", "state", "total", "done", "failed", "created"}}
	for _, j := range js {
		tb.add(j.ID, j.Tenant, j.Kind, j.State, strconv.Itoa(j.Total), strconv.Itoa(j.Done), strconv.Itoa(j.Failed), j.Created.Format(time.RFC3339))
	}
	return tb
}

func jobResultsTable(j jobJSON) *table {
	tb := &table{header: []string{"target", "udi", "status", "license", "reason"}}
	for _, r := range j.Results {
		tb.add(r.Target, orDash(r.UDI), r.Status, orDash(r.License), orDash(r.Reason))
	}
	return tb
}

func printJobStarted(g *globals, j jobJSON) error {
	tb := &table{header: []string{"id", "kind", "state", "total"}}
	tb.add(j.ID, j.Kind, j.State, strconv.Itoa(j.Total))
	return g.print(j, tb)
}

// waitJob polls a job until it ends, prints its results, and fails with the
// first failure's reason when failOnError and a target failed.
func waitJob(g *globals, c *client, id string) error {
	return waitJobOpts(g, c, id, false)
}

func waitJobOpts(g *globals, c *client, id string, failOnError bool) error {
	var j jobJSON
	for {
		if err := c.do("GET", "/v1/jobs/"+pathEscape(id), nil, &j); err != nil {
			return err
		}
		if j.State != "running" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := g.print(j, jobResultsTable(j)); err != nil {
		return err
	}
	if g.output == "table" {
		fmt.Fprintf(os.Stderr, "job %s %s: %d ok, %d failed of %d\n", j.ID, j.State, j.Done, j.Failed, j.Total)
	}
	if j.State != "done" {
		return fmt.Errorf("job %s ended %s: %s", j.ID, j.State, j.Error)
	}
	if failOnError && j.Failed > 0 {
		for _, r := range j.Results {
			if !r.OK {
				more := ""
				if j.Failed > 1 {
					more = fmt.Sprintf(" (and %d more failures)", j.Failed-1)
				}
				return fmt.Errorf("%s: %s%s", r.Target, r.Reason, more)
			}
		}
	}
	return nil
}
