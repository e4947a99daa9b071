package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	err  error
}

func newClient(g *globals) *client {
	c := &client{g: g, http: &http.Client{Timeout: 5 * time.Minute}}
	if g.cacert != "" {
		pem, err := os.ReadFile(g.cacert)
		if err != nil {
			c.err = fmt.Errorf("--cacert: %v", err)
			return c
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			c.err = fmt.Errorf("--cacert %s: no PEM certificate in it", g.cacert)
			return c
		}
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return c
}

// retries is how often a write is retried after a transport error or a
// 503; the Idempotency-Key makes the retry safe.
const retries = 3

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
// Writes carry a fresh Idempotency-Key and are retried with it after a
// transport error or a 503.
func (c *client) raw(method, path string, in any) ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	if c.g.token == "" {
		return nil, fmt.Errorf("no API token: set LICBROKER_TOKEN or pass --token (the admin token is in <data-dir>/admin-token)")
	}
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = b
	}
	base, err := url.Parse(c.g.server)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return nil, fmt.Errorf("invalid --server %q: want a URL like http://127.0.0.1:7800", c.g.server)
	}
	key := ""
	if method != http.MethodGet {
		var r [12]byte
		rand.Read(r[:])
		key = "cli-" + hex.EncodeToString(r[:])
	}
	for attempt := 0; ; attempt++ {
		out, retry, err := c.once(method, path, body, key)
		if err == nil || !retry || key == "" || attempt == retries {
			return out, err
		}
		time.Sleep(time.Duration(200<<attempt) * time.Millisecond)
	}
}

// once sends one request; retry says whether a retry may help.
func (c *client) once(method, path string, body []byte, key string) ([]byte, bool, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.g.server, "/")+path, rd)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Authorization", "Bearer "+c.g.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if c.g.tenant != "" {
		req.Header.Set("X-Licbroker-Tenant", c.g.tenant)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("cannot reach broker at %s: %v", c.g.server, unwrapURLErr(err))
	}
	defer resp.Body.Close()
	out, err := c.read(resp)
	return out, resp.StatusCode == http.StatusServiceUnavailable, err
}

// read returns the body of a 2xx response, or the API's error.
func (c *client) read(resp *http.Response) ([]byte, error) {
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
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// getAll fetches every page of a list.
func getAll[T any](c *client, path string) ([]T, error) {
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	out := []T{}
	cursor := ""
	for {
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"next_cursor"`
		}
		p := path + sep + "limit=1000"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := c.do("GET", p, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		cursor = page.NextCursor
	}
}

// query builds a query string from the non-empty values.
func query(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
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
