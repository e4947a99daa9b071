package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type jobResultJSON struct {
	Target   string `json:"target"`
	UDI      string `json:"udi"`
	OK       bool   `json:"ok"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	License  string `json:"license"`
	Detail   string `json:"detail"`
	Attempts int    `json:"attempts"`
}

type jobJSON struct {
	ID        string          `json:"id"`
	Tenant    string          `json:"tenant"`
	Kind      string          `json:"kind"`
	State     string          `json:"state"`
	Total     int             `json:"total"`
	Done      int             `json:"done"`
	Failed    int             `json:"failed"`
	Remaining int             `json:"remaining"`
	Rate      float64         `json:"rate"`
	Statuses  map[string]int  `json:"statuses"`
	Runner    string          `json:"runner"`
	Epoch     int             `json:"epoch"`
	RetryOf   string          `json:"retry_of"`
	Results   []jobResultJSON `json:"results"`
	Created   time.Time       `json:"created"`
	Finished  *time.Time      `json:"finished"`
	Error     string          `json:"error"`
}

func newJobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Inspect, wait for, cancel and retry asynchronous jobs"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List jobs, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			items, err := getAll[jobJSON](newClient(g), "/v1/jobs")
			if err != nil {
				return err
			}
			return g.print(items, jobTable(items...))
		},
	})
	var failedOnly bool
	show := &cobra.Command{
		Use: "show ID", Short: "Show a job's progress and per-device results", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			which := "all"
			if failedOnly {
				which = "failed"
			}
			var j jobJSON
			if err := newClient(g).do("GET", "/v1/jobs/"+pathEscape(args[0])+"?results="+which, nil, &j); err != nil {
				return err
			}
			if err := g.print(j, jobResultsTable(j)); err != nil {
				return err
			}
			if g.output == "table" {
				fmt.Fprintln(os.Stderr, jobSummary(j))
			}
			return nil
		},
	}
	show.Flags().BoolVar(&failedOnly, "failed", false, "only the devices that failed")
	cmd.AddCommand(show)
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
	var wait bool
	retry := &cobra.Command{
		Use: "retry ID", Short: "Start a job over the failed devices of an ended job", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := newClient(g)
			var j jobJSON
			if err := c.do("POST", "/v1/jobs/"+pathEscape(args[0])+"/retry", nil, &j); err != nil {
				return err
			}
			if !wait {
				return printJobStarted(g, j)
			}
			return waitJobOpts(g, c, j.ID, true)
		},
	}
	retry.Flags().BoolVar(&wait, "wait", false, "wait for the job, with a progress bar on a terminal")
	cmd.AddCommand(retry)
	cmd.AddCommand(&cobra.Command{
		Use: "wait ID", Short: "Wait for a job to end (progress bar on a terminal) and show its results", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return waitJobOpts(g, newClient(g), args[0], true)
		},
	})
	return cmd
}

func jobTable(js ...jobJSON) *table {
	tb := &table{header: []string{"id", "tenant", "kind", "state", "total", "done", "failed", "remaining", "rate", "created"}}
	for _, j := range js {
		tb.add(j.ID, j.Tenant, j.Kind, j.State, strconv.Itoa(j.Total), strconv.Itoa(j.Done), strconv.Itoa(j.Failed),
			strconv.Itoa(j.Remaining), strconv.FormatFloat(j.Rate, 'f', 1, 64)+"/s", j.Created.Format(time.RFC3339))
	}
	return tb
}

func jobResultsTable(j jobJSON) *table {
	tb := &table{header: []string{"target", "udi", "status", "license", "attempts", "reason"}}
	for _, r := range j.Results {
		why := r.Reason
		if why == "" {
			why = r.Detail
		}
		tb.add(r.Target, orDash(r.UDI), r.Status, orDash(r.License), strconv.Itoa(r.Attempts), orDash(why))
	}
	return tb
}

// jobSummary is one line on a job: its state, counts per status, rate.
func jobSummary(j jobJSON) string {
	var st []string
	for s, n := range j.Statuses {
		st = append(st, fmt.Sprintf("%s %d", s, n))
	}
	sort.Strings(st)
	s := fmt.Sprintf("job %s %s: %d ok, %d failed, %d remaining of %d", j.ID, j.State, j.Done, j.Failed, j.Remaining, j.Total)
	if len(st) > 0 {
		s += " (" + strings.Join(st, ", ") + ")"
	}
	return s + fmt.Sprintf(", %.1f devices/s", j.Rate)
}

func printJobStarted(g *globals, j jobJSON) error {
	tb := &table{header: []string{"id", "kind", "state", "total"}}
	tb.add(j.ID, j.Kind, j.State, strconv.Itoa(j.Total))
	return g.print(j, tb)
}

// waitJob polls a job until it ends and prints its results.
func waitJob(g *globals, c *client, id string) error {
	return waitJobOpts(g, c, id, false)
}

// maxTableResults is how many per-device results a finished job prints as
// a table; beyond it only the failed ones are printed.
const maxTableResults = 1000

// waitJobOpts polls a job until it ends, with a live progress bar on
// stderr when that is a terminal (plain output otherwise), prints its
// results, and fails with the first failure's reason when failOnError and
// a device failed.
func waitJobOpts(g *globals, c *client, id string, failOnError bool) error {
	var bar *progressbar.ProgressBar
	interactive := term.IsTerminal(int(os.Stderr.Fd()))
	var j jobJSON
	for {
		if err := c.do("GET", "/v1/jobs/"+pathEscape(id)+"?results=none", nil, &j); err != nil {
			return err
		}
		if interactive {
			if bar == nil {
				bar = newProgressBar(os.Stderr, j)
			}
			bar.Describe(fmt.Sprintf("%s %s: %d ok, %d failed", j.Kind, j.ID, j.Done, j.Failed))
			bar.Set(j.Done + j.Failed)
		}
		if j.State != "running" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(os.Stderr)
	}
	which := "all"
	if g.output == "table" && j.Total > maxTableResults {
		which = "failed"
	}
	if err := c.do("GET", "/v1/jobs/"+pathEscape(id)+"?results="+which, nil, &j); err != nil {
		return err
	}
	if err := g.print(j, jobResultsTable(j)); err != nil {
		return err
	}
	if g.output == "table" {
		fmt.Fprintln(os.Stderr, jobSummary(j))
		if which == "failed" {
			fmt.Fprintf(os.Stderr, "(%d results; only the failed ones are shown: licbroker job show %s for all)\n", j.Total, j.ID)
		}
	}
	if j.State != "done" {
		if j.Error != "" {
			return fmt.Errorf("job %s ended %s: %s", j.ID, j.State, j.Error)
		}
		return fmt.Errorf("job %s ended %s after %d of %d devices", j.ID, j.State, j.Done+j.Failed, j.Total)
	}
	if failOnError && j.Failed > 0 {
		for _, r := range j.Results {
			if !r.OK {
				more := ""
				if j.Failed > 1 {
					more = fmt.Sprintf(" (and %d more failures; licbroker job show %s --failed)", j.Failed-1, j.ID)
				}
				return fmt.Errorf("%s: %s: %s%s", r.Target, r.Status, r.Reason, more)
			}
		}
	}
	return nil
}

func newProgressBar(w io.Writer, j jobJSON) *progressbar.ProgressBar {
	return progressbar.NewOptions(j.Total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(j.Kind+" "+j.ID),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("devices"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetWidth(30),
	)
}
