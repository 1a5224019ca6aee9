# A small Docker Swarm for MiniTwit on DigitalOcean:
#   1 manager (PostgreSQL on a block-storage volume, Prometheus, Grafana, web, proxy)
#   N workers (web, proxy), all in one VPC behind one cloud firewall,
#   optionally a load balancer terminating TLS (when dns_zone is set).
# cloud-init installs Docker; the manager initialises the swarm and labels itself
# minitwit.db / minitwit.monitoring; workers join with a token Terraform reads from it.

locals {
  cluster_tag        = "${var.name}-swarm"
  pgdata_volume_name = "${var.name}-pgdata"
  # docker-stack.yml mounts this path (MINITWIT_PGDATA_DIR) into the db service.
  pgdata_mount = "/mnt/minitwit_pgdata"
  # Backups live on a volume of their own (docker-stack.yml: backup, MINITWIT_BACKUP_DIR), so
  # losing the database's volume does not lose its backups.
  backups_volume_name = "${var.name}-backups"
  backups_mount       = "/mnt/minitwit_backups"
  use_tls_lb   = var.dns_zone != ""
  web_fqdn     = var.dns_record == "@" ? var.dns_zone : "${var.dns_record}.${var.dns_zone}"
}

resource "digitalocean_vpc" "swarm" {
  name     = "${var.name}-vpc"
  region   = var.region
  ip_range = var.vpc_ip_range
}

resource "digitalocean_tag" "swarm" {
  name = local.cluster_tag
}

resource "digitalocean_ssh_key" "deploy" {
  name       = "${var.name}-deploy"
  public_key = file(pathexpand(var.ssh_public_key_path))
}

resource "digitalocean_volume" "pgdata" {
  name                    = local.pgdata_volume_name
  region                  = var.region
  size                    = var.pgdata_volume_size
  initial_filesystem_type = "ext4"
  description             = "PostgreSQL data of MiniTwit"

  lifecycle {
    prevent_destroy = true
  }
}

resource "digitalocean_volume" "backups" {
  name                    = local.backups_volume_name
  region                  = var.region
  size                    = var.backups_volume_size
  initial_filesystem_type = "ext4"
  description             = "Backups of MiniTwit's database (pg_dump custom format)"

  lifecycle {
    prevent_destroy = true
  }
}

resource "digitalocean_droplet" "manager" {
  name       = "${var.name}-manager-1"
  region     = var.region
  size       = var.manager_size
  image      = var.image
  vpc_uuid   = digitalocean_vpc.swarm.id
  ssh_keys   = [digitalocean_ssh_key.deploy.fingerprint]
  tags       = [digitalocean_tag.swarm.id]
  volume_ids = [digitalocean_volume.pgdata.id, digitalocean_volume.backups.id]
  monitoring = true

  user_data = templatefile("${path.module}/cloud-init/manager.yaml.tftpl", {
    pgdata_device  = "/dev/disk/by-id/scsi-0DO_Volume_${local.pgdata_volume_name}"
    pgdata_mount   = local.pgdata_mount
    backups_device = "/dev/disk/by-id/scsi-0DO_Volume_${local.backups_volume_name}"
    backups_mount  = local.backups_mount
  })

  lifecycle {
    # Re-rendered cloud-init must not replace the manager and with it the swarm.
    ignore_changes = [user_data]
  }
}

# Waits until cloud-init on the manager has initialised the swarm, then returns
# {worker, manager} join tokens. Needs ssh and jq where Terraform runs.
data "external" "swarm_join_tokens" {
  program = ["bash", "${path.module}/scripts/swarm-join-tokens.sh"]

  query = {
    host        = digitalocean_droplet.manager.ipv4_address
    user        = "root"
    private_key = pathexpand(var.ssh_private_key_path)
  }
}

resource "digitalocean_droplet" "worker" {
  count = var.worker_count

  name       = "${var.name}-worker-${count.index + 1}"
  region     = var.region
  size       = var.worker_size
  image      = var.image
  vpc_uuid   = digitalocean_vpc.swarm.id
  ssh_keys   = [digitalocean_ssh_key.deploy.fingerprint]
  tags       = [digitalocean_tag.swarm.id]
  monitoring = true

  user_data = templatefile("${path.module}/cloud-init/worker.yaml.tftpl", {
    join_token   = data.external.swarm_join_tokens.result.worker
    manager_addr = digitalocean_droplet.manager.ipv4_address_private
  })

  lifecycle {
    # A rotated join token must not replace workers that already joined.
    ignore_changes = [user_data]
  }
}

resource "digitalocean_firewall" "swarm" {
  name = "${var.name}-swarm"
  tags = [digitalocean_tag.swarm.id]

  inbound_rule {
    protocol         = "tcp"
    port_range       = "22"
    source_addresses = var.admin_cidrs
  }

  # The proxy, published on every node by the swarm routing mesh.
  inbound_rule {
    protocol         = "tcp"
    port_range       = "80"
    source_addresses = ["0.0.0.0/0", "::/0"]
  }

  inbound_rule {
    protocol         = "tcp"
    port_range       = "3000"
    source_addresses = var.admin_cidrs
  }

  # Swarm: cluster management, node gossip, overlay (VXLAN) data path.
  inbound_rule {
    protocol    = "tcp"
    port_range  = "2377"
    source_tags = [digitalocean_tag.swarm.id]
  }

  inbound_rule {
    protocol    = "tcp"
    port_range  = "7946"
    source_tags = [digitalocean_tag.swarm.id]
  }

  inbound_rule {
    protocol    = "udp"
    port_range  = "7946"
    source_tags = [digitalocean_tag.swarm.id]
  }

  inbound_rule {
    protocol    = "udp"
    port_range  = "4789"
    source_tags = [digitalocean_tag.swarm.id]
  }

  inbound_rule {
    protocol         = "icmp"
    source_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = ["0.0.0.0/0", "::/0"]
  }
}

# Optional: HTTPS. The app sets Secure session cookies in production, so browsers
# only sign in over HTTPS; plain port 80 serves the simulator API and health checks.
resource "digitalocean_certificate" "web" {
  count = local.use_tls_lb ? 1 : 0

  name    = "${var.name}-web"
  type    = "lets_encrypt"
  domains = [local.web_fqdn]

  lifecycle {
    create_before_destroy = true
  }
}

resource "digitalocean_loadbalancer" "web" {
  count = local.use_tls_lb ? 1 : 0

  name                   = "${var.name}-lb"
  region                 = var.region
  vpc_uuid               = digitalocean_vpc.swarm.id
  droplet_tag            = digitalocean_tag.swarm.id
  redirect_http_to_https = false

  forwarding_rule {
    entry_port       = 443
    entry_protocol   = "https"
    target_port      = 80
    target_protocol  = "http"
    certificate_name = digitalocean_certificate.web[0].name
  }

  forwarding_rule {
    entry_port      = 80
    entry_protocol  = "http"
    target_port     = 80
    target_protocol = "http"
  }

  healthcheck {
    protocol                 = "http"
    port                     = 80
    path                     = "/nginx-health"
    check_interval_seconds   = 10
    response_timeout_seconds = 5
    healthy_threshold        = 3
    unhealthy_threshold      = 3
  }
}

resource "digitalocean_record" "web" {
  count = local.use_tls_lb ? 1 : 0

  domain = var.dns_zone
  type   = "A"
  name   = var.dns_record
  value  = digitalocean_loadbalancer.web[0].ip
  ttl    = 300
}
