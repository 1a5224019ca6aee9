output "manager_public_ip" {
  description = "Public address of the swarm manager."
  value       = digitalocean_droplet.manager.ipv4_address
}

output "worker_public_ips" {
  description = "Public addresses of the swarm workers."
  value       = digitalocean_droplet.worker[*].ipv4_address
}

output "docker_host" {
  description = "export DOCKER_HOST=<this> before running infra/deploy.sh."
  value       = "ssh://root@${digitalocean_droplet.manager.ipv4_address}"
}

output "web_url" {
  description = "Where MiniTwit answers."
  value       = local.use_tls_lb ? "https://${local.web_fqdn}" : "http://${digitalocean_droplet.manager.ipv4_address}"
}

output "grafana_url" {
  description = "Grafana (reachable from admin_cidrs only)."
  value       = "http://${digitalocean_droplet.manager.ipv4_address}:3000"
}
