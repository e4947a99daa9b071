package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// client talks to a broker's REST API.
type client struct {
	g    *globals
	http *http.Client
}

func newClient(g *globals) *client {
	return &client{g: g, http: &http.Client{Timeout: 5 * time.Minute}}
}

// apiError is the API's error body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Message }

// do sends a request and decodes a JSON response into out (if not nil).
func (c *client) do(method, path string, in, out any) error {
	body, err := c.raw(method, path, in)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("bad response from %s: %v", c.g.server, err)
	}
	return nil
}

// raw sends a request and returns the response body of a 2xx answer.
func (c *client) raw(method, path string, in any) ([]byte, error) {
	if c.g.token == "" {
		return nil, fmt.Errorf("no API token: set LICBROKER_TOKEN or pass --token (the admin token is in <data-dir>/admin-token)")
	}
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	base, err := url.Parse(c.g.server)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("invalid --server %q: want a URL like http://127.0.0.1:7800", c.g.server)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.g.server, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.g.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.g.tenant != "" {
		req.Header.Set("X-Licbroker-Tenant", c.g.tenant)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach broker at %s: %v", c.g.server, unwrapURLErr(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("reading response: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error apiError `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return nil, &e.Error
		}
		return nil, fmt.Errorf("broker answered %s", resp.Status)
	}
	return body, nil
}

func unwrapURLErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// table is rows of text with a header, printed as table, CSV or (from the
// original value) JSON.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// print writes v as JSON, or t as a table or CSV, per -o.
func (g *globals) print(v any, t *table) error {
	w := os.Stdout
	switch g.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write(t.header)
		cw.WriteAll(t.rows)
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.header, "\t")))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func pathEscape(s string) string { return url.PathEscape(s) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
