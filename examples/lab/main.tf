# The lab cluster that `make demo` applies: the classic LVS-DR tutorial, as code.
# The lab (internal/lab) provides the hosts, their SSH key and known_hosts file.

terraform {
  required_providers {
    lvs = {
      source = "lvs-provider/lvs"
    }
  }
}

variable "private_key_file" {
  type        = string
  description = "SSH key that logs in to the lab hosts."
}

variable "known_hosts_file" {
  type        = string
  description = "known_hosts with the lab hosts' keys."
}

provider "lvs" {
  ssh = {
    private_key_file = var.private_key_file
    known_hosts_file = var.known_hosts_file
  }
}

resource "lvs_director_pair" "lab" {
  name = "lab"
  directors = [
    { host = "198.51.100.11", interface = "eth0" },
    { host = "198.51.100.12", interface = "eth0" },
  ]
}

output "directors" {
  value = [for d in lvs_director_pair.lab.directors : "${d.host}: lvs-agent ${d.agent_version} (${d.status})"]
}
