# What the example beside it refers to, so that this directory validates on its own (TestExamples
# in internal/provider runs terraform validate on every example). The docs show only the example.
terraform {
  required_providers {
    lvs = {
      source = "lvs-provider/lvs"
    }
  }
}

resource "lvs_director_pair" "edge" {
  name = "edge"
  directors = [
    { host = "198.51.100.11", interface = "eth0" },
    { host = "198.51.100.12", interface = "eth0" },
  ]
}

resource "lvs_vip" "web" {
  director_pair_id  = lvs_director_pair.edge.id
  virtual_router_id = 91
  addresses         = ["198.51.100.100/24"]
}
