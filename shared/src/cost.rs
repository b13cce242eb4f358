//! What a sleeping task would cost if it ran: Fargate on-demand prices applied to the task
//! definition's size. Pure; the numbers are estimates and say so when they cannot be made.

use serde::Serialize;

/// How a service's tasks are launched, as far as pricing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Launch {
    /// Fargate on demand: `launchType` FARGATE, or a strategy of only the `FARGATE` provider.
    Fargate,
    /// Any `FARGATE_SPOT` in the strategy: Spot prices move, so no estimate is made.
    FargateSpot,
    /// EC2 or external capacity: the instances cost money, not the tasks.
    Ec2,
    /// No launch type and no strategy of its own (the cluster's default strategy applies).
    Unknown,
}

impl Launch {
    /// From a service's `launchType` and the names of its capacity providers.
    pub fn of(launch_type: Option<&str>, providers: &[&str]) -> Launch {
        match launch_type {
            Some("FARGATE") => return Launch::Fargate,
            Some("EC2") | Some("EXTERNAL") => return Launch::Ec2,
            _ => {}
        }
        if providers.is_empty() {
            Launch::Unknown
        } else if providers.contains(&"FARGATE_SPOT") {
            Launch::FargateSpot
        } else if providers.iter().all(|p| *p == "FARGATE") {
            Launch::Fargate
        } else {
            Launch::Ec2
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Arch {
    X86_64,
    Arm64,
}

/// A task definition's task-level size, as Fargate bills it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TaskSize {
    pub vcpu: f64,
    pub memory_gb: f64,
    pub arch: Arch,
    /// Fargate prices Windows differently (and adds a licence fee): those are not estimated.
    pub linux: bool,
}

impl TaskSize {
    /// From the task definition's `cpu` (units, 1024 a vCPU) and `memory` (MiB) strings, its
    /// runtime platform's CPU architecture (x86_64 when absent) and OS family (Linux when absent).
    pub fn parse(
        cpu: Option<&str>,
        memory: Option<&str>,
        arch: Option<&str>,
        os_family: Option<&str>,
    ) -> Result<TaskSize, String> {
        let number = |field: &str, value: Option<&str>| -> Result<f64, String> {
            let value = value.ok_or_else(|| format!("the task definition has no task-level {field}"))?;
            value
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(f64::from)
                .ok_or_else(|| format!("task-level {field} `{value}` is not a positive whole number"))
        };
        let arch = match arch {
            None | Some("X86_64") => Arch::X86_64,
            Some("ARM64") => Arch::Arm64,
            Some(other) => return Err(format!("CPU architecture `{other}` has no price")),
        };
        let linux = os_family.is_none_or(|os| os == "LINUX");
        Ok(TaskSize { vcpu: number("cpu", cpu)? / 1024.0, memory_gb: number("memory", memory)? / 1024.0, arch, linux })
    }
}

/// Fargate on-demand prices per hour, USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub x86_vcpu_hour: f64,
    pub x86_gb_hour: f64,
    pub arm_vcpu_hour: f64,
    pub arm_gb_hour: f64,
}

impl Prices {
    /// us-east-1, Linux.
    pub const US_EAST_1: Prices =
        Prices { x86_vcpu_hour: 0.04048, x86_gb_hour: 0.004445, arm_vcpu_hour: 0.03238, arm_gb_hour: 0.00356 };

    /// What one task of `size` costs an hour when launched as `launch`, or why there is no estimate.
    pub fn task_hourly(&self, launch: Launch, size: Option<&TaskSize>) -> Result<f64, String> {
        match launch {
            Launch::Fargate => {}
            Launch::FargateSpot => return Err("not estimated: Fargate Spot prices vary".into()),
            Launch::Ec2 => return Err("not estimated: EC2 capacity (the instances cost, not the tasks)".into()),
            Launch::Unknown => {
                return Err("not estimated: no launch type (the cluster's default capacity provider applies)".into())
            }
        }
        let size = size.ok_or("not estimated: task definition size unknown")?;
        if !size.linux {
            return Err("not estimated: only Linux Fargate prices are configured".into());
        }
        let (vcpu, gb) = match size.arch {
            Arch::X86_64 => (self.x86_vcpu_hour, self.x86_gb_hour),
            Arch::Arm64 => (self.arm_vcpu_hour, self.arm_gb_hour),
        };
        Ok(size.vcpu * vcpu + size.memory_gb * gb)
    }
}

/// Dollars are reported to a hundredth of a cent: enough for one small task-hour to show.
pub fn round_usd(usd: f64) -> f64 {
    (usd * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(cpu: &str, memory: &str, arch: Option<&str>) -> TaskSize {
        TaskSize::parse(Some(cpu), Some(memory), arch, None).unwrap()
    }

    #[test]
    fn x86_and_arm_tasks_cost_what_the_price_list_says() {
        let p = Prices::US_EAST_1;
        // 0.25 vCPU * 0.04048 + 0.5 GB * 0.004445 = 0.01012 + 0.0022225
        let small = p.task_hourly(Launch::Fargate, Some(&size("256", "512", None))).unwrap();
        assert!((small - 0.0123425).abs() < 1e-12, "{small}");
        // 1 vCPU * 0.04048 + 2 GB * 0.004445
        let x86 = p.task_hourly(Launch::Fargate, Some(&size("1024", "2048", Some("X86_64")))).unwrap();
        assert!((x86 - 0.04937).abs() < 1e-12, "{x86}");
        // 2 vCPU * 0.03238 + 4 GB * 0.00356 = 0.06476 + 0.01424
        let arm = p.task_hourly(Launch::Fargate, Some(&size("2048", "4096", Some("ARM64")))).unwrap();
        assert!((arm - 0.079).abs() < 1e-12, "{arm}");
    }

    #[test]
    fn configured_prices_replace_the_defaults() {
        let p = Prices { x86_vcpu_hour: 1.0, x86_gb_hour: 0.5, arm_vcpu_hour: 0.0, arm_gb_hour: 0.0 };
        assert_eq!(p.task_hourly(Launch::Fargate, Some(&size("512", "3072", None))), Ok(0.5 + 1.5));
    }

    #[test]
    fn spot_ec2_windows_and_unsized_tasks_are_not_estimated() {
        let p = Prices::US_EAST_1;
        let s = size("256", "512", None);
        for launch in [Launch::FargateSpot, Launch::Ec2, Launch::Unknown] {
            assert!(p.task_hourly(launch, Some(&s)).unwrap_err().starts_with("not estimated"), "{launch:?}");
        }
        assert!(p.task_hourly(Launch::Fargate, None).is_err());
        let windows = TaskSize::parse(Some("1024"), Some("2048"), None, Some("WINDOWS_SERVER_2022_CORE")).unwrap();
        assert!(p.task_hourly(Launch::Fargate, Some(&windows)).is_err());
    }

    #[test]
    fn launch_comes_from_the_launch_type_or_the_strategy() {
        assert_eq!(Launch::of(Some("FARGATE"), &[]), Launch::Fargate);
        assert_eq!(Launch::of(Some("EC2"), &[]), Launch::Ec2);
        assert_eq!(Launch::of(None, &["FARGATE"]), Launch::Fargate);
        assert_eq!(Launch::of(None, &["FARGATE", "FARGATE_SPOT"]), Launch::FargateSpot);
        assert_eq!(Launch::of(None, &["my-asg-provider"]), Launch::Ec2);
        assert_eq!(Launch::of(None, &[]), Launch::Unknown);
    }

    #[test]
    fn bad_sizes_name_the_field() {
        let e = TaskSize::parse(None, Some("512"), None, None).unwrap_err();
        assert!(e.contains("cpu"), "{e}");
        let e = TaskSize::parse(Some("256"), Some("lots"), None, None).unwrap_err();
        assert!(e.contains("memory `lots`"), "{e}");
        let e = TaskSize::parse(Some("256"), Some("512"), Some("RISCV"), None).unwrap_err();
        assert!(e.contains("RISCV"), "{e}");
    }

    #[test]
    fn dollars_round_to_a_hundredth_of_a_cent() {
        assert_eq!(round_usd(0.0123425), 0.0123);
        assert_eq!(round_usd(12.34567), 12.3457);
    }
}
