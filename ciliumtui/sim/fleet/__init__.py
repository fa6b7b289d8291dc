"""The simulated cluster's side of the fleet (DESIGN §10).

strategic  strategic-merge patches: lists with merge keys (a Node's conditions
           merge by type, so a publisher's condition leaves the kubelet's alone)
printer    server-side tables for the fleet's kinds: a CRD's
           additionalPrinterColumns (`kubectl get nd`), Jobs, Leases
kubelet    the Job controller and the kubelet for Job pods: a pod on a node that
           has a home (a netns and a host root) runs its containers' commands
           as real `ciliumtui` processes against that node; other nodes answer
           from their generated state
world      many nodes, one cluster: netns nodes (tests) or generated ones with
           NodeDiagnosis objects (benchmarks)
"""
