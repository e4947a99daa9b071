package devicesim

// ContactAll derives and caches every device's host key signer, the state a
// device keeps after its first SSH connection (for the memory benchmark).
func (f *Fleet) ContactAll() {
	for _, d := range f.devices {
		d.hostSigner()
	}
}
