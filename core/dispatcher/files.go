package dispatcher

import (
	"sort"

	shoalv1 "github.com/shoal-project/shoal/gen/shoal/v1"

	"github.com/shoal-project/shoal/core/secrets"
	"github.com/shoal-project/shoal/core/store"
)

// filesOf returns the data of the secrets and of the configs the tasks in
// known use, and nothing else: a node receives a secret only while a task
// assigned to it uses it. Secrets are opened here, on the leader, with
// the cluster's data key; the node keeps them in memory.
func (d *Dispatcher) filesOf(known map[string]*shoalv1.Task) (secs, cfgs []*shoalv1.AssignedFile) {
	secIDs, cfgIDs := make(map[string]bool), make(map[string]bool)
	for _, t := range known {
		for _, r := range t.GetSpec().GetSecrets() {
			secIDs[r.GetSecretId()] = true
		}
		for _, r := range t.GetSpec().GetConfigs() {
			cfgIDs[r.GetConfigId()] = true
		}
	}
	if len(secIDs)+len(cfgIDs) == 0 {
		return nil, nil
	}
	_ = d.store.View(func(tx store.ReadTx) error {
		secs = d.openSecrets(tx, secIDs)
		for id := range cfgIDs {
			if c := tx.GetConfig(id); c != nil {
				cfgs = append(cfgs, &shoalv1.AssignedFile{Id: id, Name: c.GetSpec().GetName(), Data: c.GetSpec().GetData()})
			}
		}
		return nil
	})
	sortFiles(secs)
	sortFiles(cfgs)
	return secs, cfgs
}

// openSecrets decrypts the secrets with the given IDs; one that does not
// open is left out (its task fails to prepare, naming it) and logged.
func (d *Dispatcher) openSecrets(tx store.ReadTx, ids map[string]bool) []*shoalv1.AssignedFile {
	var key []byte
	if cs, _ := tx.FindClusters(store.All()); len(cs) > 0 {
		key = cs[0].GetSecretDataKey()
	}
	var out []*shoalv1.AssignedFile
	for id := range ids {
		sec := tx.GetSecret(id)
		if sec == nil {
			continue
		}
		data, err := secrets.Open(key, id, sec.GetSealedData())
		if err != nil {
			d.log.Error("assignments: a secret does not open with the cluster's data key", "secret", id, "err", err)
			continue
		}
		out = append(out, &shoalv1.AssignedFile{Id: id, Name: sec.GetSpec().GetName(), Data: data})
	}
	return out
}

func sortFiles(fs []*shoalv1.AssignedFile) {
	sort.Slice(fs, func(i, j int) bool { return fs[i].GetId() < fs[j].GetId() })
}
