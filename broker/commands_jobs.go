package broker

// Commands of jobs and policies (the job runner, discovery, bulk install).
const (
	// CmdJobClaim makes a node the runner of a job (again, after a leader
	// change).
	CmdJobClaim     = "job.claim"
	CmdPolicyPut    = "policy.put"
	CmdPolicyDelete = "policy.delete"
)

type jobClaim struct {
	ID     string `json:"id"`
	Runner string `json:"runner"`
	// Epoch is the claim's number: one more than the job's current one.
	Epoch uint64 `json:"epoch"`
}

// jobInstalled says that a license was installed on its device.
type jobInstalled struct {
	ID   string `json:"id"`
	What string `json:"what"`
}

type policyPut struct {
	Policy Policy `json:"policy"`
}

type policyDelete struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
}
