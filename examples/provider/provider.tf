terraform {
  required_providers {
    lvs = {
      source = "lvs-provider/lvs"
    }
  }
}

provider "lvs" {
  ssh = {
    user             = "root"
    private_key_file = "~/.ssh/id_ed25519"
    known_hosts_file = "~/.ssh/known_hosts"
  }

  # Per-host overrides, keyed by the address used in resources.
  hosts = {
    "198.51.100.12" = {
      user = "lvsadmin" # not root: commands run through `sudo -n`
    }
  }
}
