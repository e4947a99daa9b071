package broker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"
)

// opDoc documents one API operation for /v1/openapi.json.
type opDoc struct {
	summary string
	// request is a value of the JSON request body's type (nil: no body).
	request any
	// response is a value of the JSON success body's type.
	response any
	// status is the success status (default 200).
	status int
	// produces lists other content types the success response may have
	// (comma-separated), or the only one when response is nil.
	produces string
	query    []qparam
	// role is set by describe for routes registered outside the table.
	role string
}

// qparam is a documented query parameter.
type qparam struct{ name, typ, desc string }

var pathParam = regexp.MustCompile(`\{([a-zA-Z_][a-zA-Z0-9_]*)\}`)

// describeCluster documents the routes that routesCluster (cluster_api.go)
// and NewAPI register directly on the mux. A route added there must be
// described here (or with a.describe beside it): TestOpenAPIMatchesRoutes
// fails otherwise.
func (a *API) describeCluster() {
	a.describe("GET", "/readyz", "", opDoc{summary: "Readiness: this node knows a leader and can serve", response: map[string]string{}})
	a.describe("GET", "/v1/cluster/status", RoleViewer, opDoc{summary: "This node's view of the cluster", response: map[string]any{}})
	a.describe("GET", "/metrics", "", opDoc{summary: "Prometheus metrics", produces: "text/plain"})
}

// OpenAPI returns the OpenAPI 3 document of every documented route.
func (a *API) OpenAPI() (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.0.3",
		Info: &openapi3.Info{Title: "licbroker API", Version: "1",
			Description: "Licensing authority and license manager for network devices. Authenticate with " +
				"`Authorization: Bearer <token>`; admins choose a tenant with " + HeaderTenant + ". Writes accept " +
				HeaderIdempotencyKey + "; reads accept ?consistency=stale (then " + HeaderDataAge + " says how old the data may be)."},
		Paths: openapi3.NewPaths(),
		Components: &openapi3.Components{SecuritySchemes: openapi3.SecuritySchemes{
			"bearer": &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{Type: "http", Scheme: "bearer"}}}},
		Security: openapi3.SecurityRequirements{{"bearer": []string{}}},
	}
	gen := openapi3gen.NewGenerator()
	schema := func(v any) (*openapi3.SchemaRef, error) {
		return gen.NewSchemaRefForValue(v, nil)
	}
	errSchema, err := schema(errorBody{})
	if err != nil {
		return nil, err
	}
	ops := map[string]opDoc{}
	for _, rt := range a.routes {
		d := rt.doc
		d.role = rt.role
		ops[rt.method+" "+rt.path] = d
	}
	for k, d := range a.docs {
		ops[k] = d
	}
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := ops[k]
		method, path, _ := strings.Cut(k, " ")
		op := openapi3.NewOperation()
		op.Summary = d.summary
		op.OperationID = operationID(method, path)
		if d.role == "" {
			op.Security = &openapi3.SecurityRequirements{}
		} else {
			op.Description = "Needs a " + d.role + " token or better."
		}
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			p := openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema())
			op.AddParameter(p)
		}
		for _, q := range d.query {
			s := openapi3.NewStringSchema()
			if q.typ == "integer" {
				s = openapi3.NewIntegerSchema()
			}
			op.AddParameter(openapi3.NewQueryParameter(q.name).WithSchema(s).WithDescription(q.desc))
		}
		if method == http.MethodGet && d.role != "" {
			op.AddParameter(openapi3.NewQueryParameter("consistency").WithDescription(
				"strong (default): see every committed write; stale: this node's data, age in " + HeaderDataAge).
				WithSchema(&openapi3.Schema{Type: &openapi3.Types{"string"}, Enum: []any{"strong", "stale"}}))
		}
		if method != http.MethodGet && d.role != "" {
			op.AddParameter(openapi3.NewHeaderParameter(HeaderIdempotencyKey).WithDescription(
				"makes the write safe to retry: a repeat with the same key gets the first response").
				WithSchema(openapi3.NewStringSchema()))
		}
		if d.request != nil {
			s, err := schema(d.request)
			if err != nil {
				return nil, fmt.Errorf("broker: openapi %s: %w", k, err)
			}
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().
				WithRequired(!strings.HasSuffix(path, "/revoke")).WithJSONSchemaRef(s)}
		}
		status := d.status
		if status == 0 {
			status = http.StatusOK
		}
		resp := openapi3.NewResponse().WithDescription(http.StatusText(status))
		content := openapi3.NewContent()
		if d.response != nil {
			s, err := schema(d.response)
			if err != nil {
				return nil, fmt.Errorf("broker: openapi %s: %w", k, err)
			}
			content["application/json"] = openapi3.NewMediaType().WithSchemaRef(s)
		}
		for _, ct := range strings.Split(d.produces, ",") {
			if ct = strings.TrimSpace(ct); ct != "" {
				content[ct] = openapi3.NewMediaType().WithSchema(openapi3.NewStringSchema())
			}
		}
		resp.Content = content
		op.Responses = openapi3.NewResponses(
			openapi3.WithStatus(status, &openapi3.ResponseRef{Value: resp}),
			openapi3.WithName("default", openapi3.NewResponse().WithDescription("error").
				WithContent(openapi3.NewContentWithJSONSchemaRef(errSchema))))
		doc.AddOperation(path, method, op)
	}
	return doc, nil
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(path, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == '{' || r == '}' }) {
		if part == "v1" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// openAPIJSON returns the document as JSON, built once.
func (a *API) openAPIJSON() []byte {
	a.docOnce.Do(func() {
		doc, err := a.OpenAPI()
		if err == nil {
			a.docJSON, err = json.MarshalIndent(doc, "", "  ")
		}
		if err != nil {
			a.docJSON, _ = json.Marshal(map[string]any{"error": map[string]string{"code": "internal", "message": err.Error()}})
		}
	})
	return a.docJSON
}
