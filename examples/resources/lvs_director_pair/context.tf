# The provider this example needs, so that this directory validates on its own (TestExamples
# in internal/provider runs terraform validate on every example). The docs show only the example.
terraform {
  required_providers {
    lvs = {
      source = "lvs-provider/lvs"
    }
  }
}
