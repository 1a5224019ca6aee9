variable "do_token" {
  description = "DigitalOcean API token (export TF_VAR_do_token; never commit it)."
  type        = string
  sensitive   = true
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "minitwit"
}

variable "region" {
  description = "DigitalOcean region slug."
  type        = string
  default     = "fra1"
}

variable "image" {
  description = "Droplet image; cloud-init installs Docker from Docker's apt repository."
  type        = string
  default     = "ubuntu-24-04-x64"
}

variable "manager_size" {
  description = "Size of the manager, which also runs PostgreSQL, Prometheus and Grafana."
  type        = string
  default     = "s-2vcpu-4gb"
}

variable "worker_size" {
  description = "Size of each worker."
  type        = string
  default     = "s-2vcpu-2gb"
}

variable "worker_count" {
  description = "Number of swarm workers (web replicas spread over manager and workers)."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 1
    error_message = "At least one worker, so a node can fail without taking all web replicas."
  }
}

variable "vpc_ip_range" {
  description = "Private network of the cluster; swarm traffic stays inside it."
  type        = string
  default     = "10.20.0.0/24"
}

variable "ssh_public_key_path" {
  description = "Public key installed for root on every droplet."
  type        = string
  default     = "~/.ssh/id_ed25519.pub"
}

variable "ssh_private_key_path" {
  description = "Private key Terraform uses to read the swarm join token from the manager."
  type        = string
  default     = "~/.ssh/id_ed25519"
}

variable "admin_cidrs" {
  description = "Addresses allowed to reach SSH (22) and Grafana (3000)."
  type        = list(string)
}

variable "pgdata_volume_size" {
  description = "Size in GiB of the block-storage volume holding PostgreSQL's data."
  type        = number
  default     = 20
}

variable "dns_zone" {
  description = "Optional DigitalOcean-managed DNS zone (example.org). When set, a load balancer terminates TLS with a Let's Encrypt certificate in front of the swarm."
  type        = string
  default     = ""
}

variable "dns_record" {
  description = "Record name inside dns_zone for MiniTwit (\"@\" for the apex)."
  type        = string
  default     = "minitwit"
}

variable "backups_volume_size" {
  description = "Size in GiB of the block-storage volume holding database backups."
  type        = number
  default     = 20
}
