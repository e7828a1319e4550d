//! `containy network ls | create | rm`, and the `--net`/`-p` flags `run` and `create` share.

use anyhow::Result;
use clap::{Args, Subcommand};

// Networking flags shared by `run` and `create`.
// (A plain comment, not a doc comment: clap would make a flattened struct's doc the verb's about.)
#[derive(Debug, Args, Default)]
pub struct NetArgs {
    /// Network mode: none, host, bridge, container:ID, or a network's name (overrides the config).
    #[arg(long, value_name = "MODE")]
    pub net: Option<String>,
    /// Publish a container port on the host: [HOSTIP:]HOSTPORT:CTRPORT[/tcp|udp] (bridge networking).
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// List networks, their subnets and the containers holding addresses on them.
    #[command(alias = "list")]
    Ls,
    /// Define a network and create its bridge (subnet: the next free 10.N.0.0/24 unless given).
    Create {
        /// The network's name (also its bridge's, so at most 15 characters).
        name: String,
        /// Its IPv4 subnet, e.g. 10.77.0.0/24.
        #[arg(long, value_name = "CIDR")]
        subnet: Option<String>,
    },
    /// Remove a network and its bridge (no container may hold an address on it).
    Rm {
        /// The network's name.
        name: String,
    },
}

pub(super) fn network(root: &std::path::Path, command: NetworkCommand) -> Result<i32> {
    use crate::network as net;
    match command {
        NetworkCommand::Ls => {
            println!("{:<16} {:<18} {:<15} CONTAINERS", "NAME", "SUBNET", "GATEWAY");
            for (def, members) in net::list_networks(root) {
                let members: Vec<String> = members.iter().map(|(id, addr)| format!("{id} ({addr})")).collect();
                let subnet = format!("{}/{}", def.subnet, def.prefix);
                println!("{:<16} {subnet:<18} {:<15} {}", def.name, def.gateway.to_string(), members.join(", "));
            }
        }
        NetworkCommand::Create { name, subnet } => {
            let subnet = subnet.as_deref().map(net::parse_subnet).transpose().map_err(anyhow::Error::msg)?;
            let def = net::create_network(root, &name, subnet)?;
            println!("{} {}/{}", def.name, def.subnet, def.prefix);
        }
        NetworkCommand::Rm { name } => net::remove_network(root, &name)?,
    }
    Ok(0)
}
