//! Task definitions between native ECS JSON and the SDK's types, in both directions and
//! exhaustively.
//!
//! ferry reads task definition templates in the JSON `aws ecs register-task-definition
//! --cli-input-json` takes, and copies the running revision (`from = "live"`) from
//! DescribeTaskDefinition. Tools that copy task definitions through hand-picked fields lose
//! the ones they forgot; here every member of every shape the ECS model reaches from
//! `RegisterTaskDefinitionRequest` is converted, and the integration test
//! `tests/taskdef_roundtrip.rs` walks the model to prove it.
//!
//! Reading is strict, because a typo in a template must not deploy silently without the
//! setting: unknown keys, wrong JSON types, enum values ECS does not know and missing
//! required members are errors that name the exact path. The members ECS sets itself
//! ([`READ_ONLY_FIELDS`]) are skipped, so DescribeTaskDefinition's JSON can be fed back.

use std::collections::{BTreeMap, HashMap};

use ferry_core::taskdef::READ_ONLY_FIELDS;
use serde_json::{Map, Value};

use crate::ecs;
use crate::ecs::error::{BuildError, SdkError};
use crate::ecs::operation::register_task_definition::{
    RegisterTaskDefinitionError, RegisterTaskDefinitionInput, RegisterTaskDefinitionOutput,
};
// Elastic Inference is retired and the SDK marks its members deprecated, but the API still
// takes and answers `inferenceAccelerators`: a task definition that has them round-trips.
#[allow(deprecated)]
use crate::ecs::types::{
    ApplicationProtocol, Attribute, Compatibility, ContainerCondition, ContainerDefinition, ContainerDependency, ContainerRestartPolicy,
    CpuArchitecture, Device, DeviceCgroupPermission, DockerVolumeConfiguration, EfsAuthorizationConfig, EfsAuthorizationConfigIam,
    EfsTransitEncryption, EfsVolumeConfiguration, EnvironmentFile, EnvironmentFileType, EphemeralStorage,
    FSxWindowsFileServerAuthorizationConfig, FSxWindowsFileServerVolumeConfiguration, FirelensConfiguration, FirelensConfigurationType,
    HealthCheck, HostEntry, HostVolumeProperties, InferenceAccelerator, IpcMode, KernelCapabilities, KeyValuePair, LinuxParameters,
    LogConfiguration, LogDriver, MountPoint, NetworkMode, OsFamily, PidMode, PortMapping, ProxyConfiguration, ProxyConfigurationType,
    RepositoryCredentials, ResourceRequirement, ResourceType, RuntimePlatform, Scope, Secret, SystemControl, Tag, TaskDefinition,
    TaskDefinitionPlacementConstraint, TaskDefinitionPlacementConstraintType, Tmpfs, TransportProtocol, Ulimit, UlimitName,
    VersionConsistency, Volume, VolumeFrom,
};

/// A task definition JSON that cannot be converted: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    /// The member's path, e.g. `containerDefinitions[0].portMappings[1].containerPort`;
    /// empty for the document itself.
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { write!(f, "task definition: {}", self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

impl std::error::Error for ConvertError {}

type Result<T> = std::result::Result<T, ConvertError>;

fn error(path: &str, message: impl Into<String>) -> ConvertError {
    ConvertError { path: path.to_string(), message: message.into() }
}

/// A structure of the ECS model: its member names (camelCase, as the model spells them)
/// and the ones it requires.
struct Shape {
    members: &'static [&'static str],
    required: &'static [&'static str],
}

// The shapes reachable from RegisterTaskDefinitionRequest, as the botocore ECS model
// lists them.
const REGISTER_TASK_DEFINITION_REQUEST: Shape = Shape {
    members: &[
        "family",
        "taskRoleArn",
        "executionRoleArn",
        "networkMode",
        "containerDefinitions",
        "volumes",
        "placementConstraints",
        "requiresCompatibilities",
        "cpu",
        "memory",
        "tags",
        "pidMode",
        "ipcMode",
        "proxyConfiguration",
        "inferenceAccelerators",
        "ephemeralStorage",
        "runtimePlatform",
        "enableFaultInjection",
    ],
    required: &["family", "containerDefinitions"],
};
const CONTAINER_DEFINITION: Shape = Shape {
    members: &[
        "name",
        "image",
        "repositoryCredentials",
        "cpu",
        "memory",
        "memoryReservation",
        "links",
        "portMappings",
        "essential",
        "restartPolicy",
        "entryPoint",
        "command",
        "environment",
        "environmentFiles",
        "mountPoints",
        "volumesFrom",
        "linuxParameters",
        "secrets",
        "dependsOn",
        "startTimeout",
        "stopTimeout",
        "versionConsistency",
        "hostname",
        "user",
        "workingDirectory",
        "disableNetworking",
        "privileged",
        "readonlyRootFilesystem",
        "dnsServers",
        "dnsSearchDomains",
        "extraHosts",
        "dockerSecurityOptions",
        "interactive",
        "pseudoTerminal",
        "dockerLabels",
        "ulimits",
        "logConfiguration",
        "healthCheck",
        "systemControls",
        "resourceRequirements",
        "firelensConfiguration",
        "credentialSpecs",
    ],
    required: &[],
};
const REPOSITORY_CREDENTIALS: Shape = Shape { members: &["credentialsParameter"], required: &["credentialsParameter"] };
const PORT_MAPPING: Shape =
    Shape { members: &["containerPort", "hostPort", "protocol", "name", "appProtocol", "containerPortRange"], required: &[] };
const CONTAINER_RESTART_POLICY: Shape = Shape { members: &["enabled", "ignoredExitCodes", "restartAttemptPeriod"], required: &["enabled"] };
const KEY_VALUE_PAIR: Shape = Shape { members: &["name", "value"], required: &[] };
const ENVIRONMENT_FILE: Shape = Shape { members: &["value", "type"], required: &["value", "type"] };
const MOUNT_POINT: Shape = Shape { members: &["sourceVolume", "containerPath", "readOnly"], required: &[] };
const VOLUME_FROM: Shape = Shape { members: &["sourceContainer", "readOnly"], required: &[] };
const LINUX_PARAMETERS: Shape = Shape {
    members: &["capabilities", "devices", "initProcessEnabled", "sharedMemorySize", "tmpfs", "maxSwap", "swappiness"],
    required: &[],
};
const KERNEL_CAPABILITIES: Shape = Shape { members: &["add", "drop"], required: &[] };
const DEVICE: Shape = Shape { members: &["hostPath", "containerPath", "permissions"], required: &["hostPath"] };
const TMPFS: Shape = Shape { members: &["containerPath", "size", "mountOptions"], required: &["containerPath", "size"] };
const SECRET: Shape = Shape { members: &["name", "valueFrom"], required: &["name", "valueFrom"] };
const CONTAINER_DEPENDENCY: Shape = Shape { members: &["containerName", "condition"], required: &["containerName", "condition"] };
const HOST_ENTRY: Shape = Shape { members: &["hostname", "ipAddress"], required: &["hostname", "ipAddress"] };
const ULIMIT: Shape = Shape { members: &["name", "softLimit", "hardLimit"], required: &["name", "softLimit", "hardLimit"] };
const LOG_CONFIGURATION: Shape = Shape { members: &["logDriver", "options", "secretOptions"], required: &["logDriver"] };
const HEALTH_CHECK: Shape = Shape { members: &["command", "interval", "timeout", "retries", "startPeriod"], required: &["command"] };
const SYSTEM_CONTROL: Shape = Shape { members: &["namespace", "value"], required: &[] };
const RESOURCE_REQUIREMENT: Shape = Shape { members: &["value", "type"], required: &["value", "type"] };
const FIRELENS_CONFIGURATION: Shape = Shape { members: &["type", "options"], required: &["type"] };
const VOLUME: Shape = Shape {
    members: &[
        "name",
        "host",
        "dockerVolumeConfiguration",
        "efsVolumeConfiguration",
        "fsxWindowsFileServerVolumeConfiguration",
        "configuredAtLaunch",
    ],
    required: &[],
};
/// Members the ECS model has but the aws-sdk-ecs version ferry is built with does not:
/// they cannot be sent, so a template using them is refused rather than registered
/// without them.
const NOT_IN_SDK: &[(&str, &str)] = &[("Volume", "s3filesVolumeConfiguration")];
const HOST_VOLUME_PROPERTIES: Shape = Shape { members: &["sourcePath"], required: &[] };
const DOCKER_VOLUME_CONFIGURATION: Shape = Shape { members: &["scope", "autoprovision", "driver", "driverOpts", "labels"], required: &[] };
const EFS_VOLUME_CONFIGURATION: Shape = Shape {
    members: &["fileSystemId", "rootDirectory", "transitEncryption", "transitEncryptionPort", "authorizationConfig"],
    required: &["fileSystemId"],
};
const EFS_AUTHORIZATION_CONFIG: Shape = Shape { members: &["accessPointId", "iam"], required: &[] };
const FSX_WINDOWS_FILE_SERVER_VOLUME_CONFIGURATION: Shape = Shape {
    members: &["fileSystemId", "rootDirectory", "authorizationConfig"],
    required: &["fileSystemId", "rootDirectory", "authorizationConfig"],
};
const FSX_WINDOWS_FILE_SERVER_AUTHORIZATION_CONFIG: Shape =
    Shape { members: &["credentialsParameter", "domain"], required: &["credentialsParameter", "domain"] };
const TASK_DEFINITION_PLACEMENT_CONSTRAINT: Shape = Shape { members: &["type", "expression"], required: &[] };
const TAG: Shape = Shape { members: &["key", "value"], required: &[] };
const PROXY_CONFIGURATION: Shape = Shape { members: &["type", "containerName", "properties"], required: &["containerName"] };
const INFERENCE_ACCELERATOR: Shape = Shape { members: &["deviceName", "deviceType"], required: &["deviceName", "deviceType"] };
const EPHEMERAL_STORAGE: Shape = Shape { members: &["sizeInGiB"], required: &["sizeInGiB"] };
const RUNTIME_PLATFORM: Shape = Shape { members: &["cpuArchitecture", "operatingSystemFamily"], required: &[] };

/// The SDK request for a task definition in native ECS JSON (the RegisterTaskDefinition
/// request shape). Members ECS sets itself ([`READ_ONLY_FIELDS`]) are ignored, so the JSON
/// of a described definition is accepted as it is.
// Elastic Inference is retired and the SDK marks its members deprecated, but the API still
// takes and answers `inferenceAccelerators`: a task definition that has them round-trips.
#[allow(deprecated)]
pub fn register_input(td: &Value) -> std::result::Result<RegisterTaskDefinitionInput, ConvertError> {
    let o = Obj::new_ignoring("", td, &REGISTER_TASK_DEFINITION_REQUEST, READ_ONLY_FIELDS)?;
    let input = RegisterTaskDefinitionInput::builder()
        .set_family(o.string("family")?)
        .set_task_role_arn(o.string("taskRoleArn")?)
        .set_execution_role_arn(o.string("executionRoleArn")?)
        .set_network_mode(o.enumeration("networkMode", NetworkMode::values())?)
        .set_container_definitions(o.list("containerDefinitions", container_definition)?)
        .set_volumes(o.list("volumes", volume)?)
        .set_placement_constraints(o.list("placementConstraints", placement_constraint)?)
        .set_requires_compatibilities(o.enums("requiresCompatibilities", Compatibility::values())?)
        .set_cpu(o.string("cpu")?)
        .set_memory(o.string("memory")?)
        .set_tags(o.list("tags", tag)?)
        .set_pid_mode(o.enumeration("pidMode", PidMode::values())?)
        .set_ipc_mode(o.enumeration("ipcMode", IpcMode::values())?)
        .set_proxy_configuration(o.object("proxyConfiguration", proxy_configuration)?)
        .set_inference_accelerators(o.list("inferenceAccelerators", inference_accelerator)?)
        .set_ephemeral_storage(o.object("ephemeralStorage", ephemeral_storage)?)
        .set_runtime_platform(o.object("runtimePlatform", runtime_platform)?)
        .set_enable_fault_injection(o.bool("enableFaultInjection")?)
        .build();
    o.built(input)
}

fn container_definition(path: &str, v: &Value) -> Result<ContainerDefinition> {
    let o = Obj::new(path, v, &CONTAINER_DEFINITION)?;
    Ok(ContainerDefinition::builder()
        .set_name(o.string("name")?)
        .set_image(o.string("image")?)
        .set_repository_credentials(o.object("repositoryCredentials", repository_credentials)?)
        .set_cpu(o.int("cpu")?)
        .set_memory(o.int("memory")?)
        .set_memory_reservation(o.int("memoryReservation")?)
        .set_links(o.strings("links")?)
        .set_port_mappings(o.list("portMappings", port_mapping)?)
        .set_essential(o.bool("essential")?)
        .set_restart_policy(o.object("restartPolicy", restart_policy)?)
        .set_entry_point(o.strings("entryPoint")?)
        .set_command(o.strings("command")?)
        .set_environment(o.list("environment", key_value_pair)?)
        .set_environment_files(o.list("environmentFiles", environment_file)?)
        .set_mount_points(o.list("mountPoints", mount_point)?)
        .set_volumes_from(o.list("volumesFrom", volume_from)?)
        .set_linux_parameters(o.object("linuxParameters", linux_parameters)?)
        .set_secrets(o.list("secrets", secret)?)
        .set_depends_on(o.list("dependsOn", container_dependency)?)
        .set_start_timeout(o.int("startTimeout")?)
        .set_stop_timeout(o.int("stopTimeout")?)
        .set_version_consistency(o.enumeration("versionConsistency", VersionConsistency::values())?)
        .set_hostname(o.string("hostname")?)
        .set_user(o.string("user")?)
        .set_working_directory(o.string("workingDirectory")?)
        .set_disable_networking(o.bool("disableNetworking")?)
        .set_privileged(o.bool("privileged")?)
        .set_readonly_root_filesystem(o.bool("readonlyRootFilesystem")?)
        .set_dns_servers(o.strings("dnsServers")?)
        .set_dns_search_domains(o.strings("dnsSearchDomains")?)
        .set_extra_hosts(o.list("extraHosts", host_entry)?)
        .set_docker_security_options(o.strings("dockerSecurityOptions")?)
        .set_interactive(o.bool("interactive")?)
        .set_pseudo_terminal(o.bool("pseudoTerminal")?)
        .set_docker_labels(o.string_map("dockerLabels")?)
        .set_ulimits(o.list("ulimits", ulimit)?)
        .set_log_configuration(o.object("logConfiguration", log_configuration)?)
        .set_health_check(o.object("healthCheck", health_check)?)
        .set_system_controls(o.list("systemControls", system_control)?)
        .set_resource_requirements(o.list("resourceRequirements", resource_requirement)?)
        .set_firelens_configuration(o.object("firelensConfiguration", firelens_configuration)?)
        .set_credential_specs(o.strings("credentialSpecs")?)
        .build())
}

fn repository_credentials(path: &str, v: &Value) -> Result<RepositoryCredentials> {
    let o = Obj::new(path, v, &REPOSITORY_CREDENTIALS)?;
    o.built(RepositoryCredentials::builder().set_credentials_parameter(o.string("credentialsParameter")?).build())
}

fn port_mapping(path: &str, v: &Value) -> Result<PortMapping> {
    let o = Obj::new(path, v, &PORT_MAPPING)?;
    Ok(PortMapping::builder()
        .set_container_port(o.int("containerPort")?)
        .set_host_port(o.int("hostPort")?)
        .set_protocol(o.enumeration("protocol", TransportProtocol::values())?)
        .set_name(o.string("name")?)
        .set_app_protocol(o.enumeration("appProtocol", ApplicationProtocol::values())?)
        .set_container_port_range(o.string("containerPortRange")?)
        .build())
}

fn restart_policy(path: &str, v: &Value) -> Result<ContainerRestartPolicy> {
    let o = Obj::new(path, v, &CONTAINER_RESTART_POLICY)?;
    o.built(
        ContainerRestartPolicy::builder()
            .set_enabled(o.bool("enabled")?)
            .set_ignored_exit_codes(o.ints("ignoredExitCodes")?)
            .set_restart_attempt_period(o.int("restartAttemptPeriod")?)
            .build(),
    )
}

fn key_value_pair(path: &str, v: &Value) -> Result<KeyValuePair> {
    let o = Obj::new(path, v, &KEY_VALUE_PAIR)?;
    Ok(KeyValuePair::builder().set_name(o.string("name")?).set_value(o.string("value")?).build())
}

fn environment_file(path: &str, v: &Value) -> Result<EnvironmentFile> {
    let o = Obj::new(path, v, &ENVIRONMENT_FILE)?;
    o.built(
        EnvironmentFile::builder().set_value(o.string("value")?).set_type(o.enumeration("type", EnvironmentFileType::values())?).build(),
    )
}

fn mount_point(path: &str, v: &Value) -> Result<MountPoint> {
    let o = Obj::new(path, v, &MOUNT_POINT)?;
    Ok(MountPoint::builder()
        .set_source_volume(o.string("sourceVolume")?)
        .set_container_path(o.string("containerPath")?)
        .set_read_only(o.bool("readOnly")?)
        .build())
}

fn volume_from(path: &str, v: &Value) -> Result<VolumeFrom> {
    let o = Obj::new(path, v, &VOLUME_FROM)?;
    Ok(VolumeFrom::builder().set_source_container(o.string("sourceContainer")?).set_read_only(o.bool("readOnly")?).build())
}

fn linux_parameters(path: &str, v: &Value) -> Result<LinuxParameters> {
    let o = Obj::new(path, v, &LINUX_PARAMETERS)?;
    Ok(LinuxParameters::builder()
        .set_capabilities(o.object("capabilities", kernel_capabilities)?)
        .set_devices(o.list("devices", device)?)
        .set_init_process_enabled(o.bool("initProcessEnabled")?)
        .set_shared_memory_size(o.int("sharedMemorySize")?)
        .set_tmpfs(o.list("tmpfs", tmpfs)?)
        .set_max_swap(o.int("maxSwap")?)
        .set_swappiness(o.int("swappiness")?)
        .build())
}

fn kernel_capabilities(path: &str, v: &Value) -> Result<KernelCapabilities> {
    let o = Obj::new(path, v, &KERNEL_CAPABILITIES)?;
    Ok(KernelCapabilities::builder().set_add(o.strings("add")?).set_drop(o.strings("drop")?).build())
}

fn device(path: &str, v: &Value) -> Result<Device> {
    let o = Obj::new(path, v, &DEVICE)?;
    o.built(
        Device::builder()
            .set_host_path(o.string("hostPath")?)
            .set_container_path(o.string("containerPath")?)
            .set_permissions(o.enums("permissions", DeviceCgroupPermission::values())?)
            .build(),
    )
}

fn tmpfs(path: &str, v: &Value) -> Result<Tmpfs> {
    let o = Obj::new(path, v, &TMPFS)?;
    o.built(
        Tmpfs::builder()
            .set_container_path(o.string("containerPath")?)
            .set_size(o.int("size")?)
            .set_mount_options(o.strings("mountOptions")?)
            .build(),
    )
}

fn secret(path: &str, v: &Value) -> Result<Secret> {
    let o = Obj::new(path, v, &SECRET)?;
    o.built(Secret::builder().set_name(o.string("name")?).set_value_from(o.string("valueFrom")?).build())
}

fn container_dependency(path: &str, v: &Value) -> Result<ContainerDependency> {
    let o = Obj::new(path, v, &CONTAINER_DEPENDENCY)?;
    o.built(
        ContainerDependency::builder()
            .set_container_name(o.string("containerName")?)
            .set_condition(o.enumeration("condition", ContainerCondition::values())?)
            .build(),
    )
}

fn host_entry(path: &str, v: &Value) -> Result<HostEntry> {
    let o = Obj::new(path, v, &HOST_ENTRY)?;
    o.built(HostEntry::builder().set_hostname(o.string("hostname")?).set_ip_address(o.string("ipAddress")?).build())
}

fn ulimit(path: &str, v: &Value) -> Result<Ulimit> {
    let o = Obj::new(path, v, &ULIMIT)?;
    o.built(
        Ulimit::builder()
            .set_name(o.enumeration("name", UlimitName::values())?)
            .set_soft_limit(o.int("softLimit")?)
            .set_hard_limit(o.int("hardLimit")?)
            .build(),
    )
}

fn log_configuration(path: &str, v: &Value) -> Result<LogConfiguration> {
    let o = Obj::new(path, v, &LOG_CONFIGURATION)?;
    o.built(
        LogConfiguration::builder()
            .set_log_driver(o.enumeration("logDriver", LogDriver::values())?)
            .set_options(o.string_map("options")?)
            .set_secret_options(o.list("secretOptions", secret)?)
            .build(),
    )
}

fn health_check(path: &str, v: &Value) -> Result<HealthCheck> {
    let o = Obj::new(path, v, &HEALTH_CHECK)?;
    o.built(
        HealthCheck::builder()
            .set_command(o.strings("command")?)
            .set_interval(o.int("interval")?)
            .set_timeout(o.int("timeout")?)
            .set_retries(o.int("retries")?)
            .set_start_period(o.int("startPeriod")?)
            .build(),
    )
}

fn system_control(path: &str, v: &Value) -> Result<SystemControl> {
    let o = Obj::new(path, v, &SYSTEM_CONTROL)?;
    Ok(SystemControl::builder().set_namespace(o.string("namespace")?).set_value(o.string("value")?).build())
}

fn resource_requirement(path: &str, v: &Value) -> Result<ResourceRequirement> {
    let o = Obj::new(path, v, &RESOURCE_REQUIREMENT)?;
    o.built(ResourceRequirement::builder().set_value(o.string("value")?).set_type(o.enumeration("type", ResourceType::values())?).build())
}

fn firelens_configuration(path: &str, v: &Value) -> Result<FirelensConfiguration> {
    let o = Obj::new(path, v, &FIRELENS_CONFIGURATION)?;
    o.built(
        FirelensConfiguration::builder()
            .set_type(o.enumeration("type", FirelensConfigurationType::values())?)
            .set_options(o.string_map("options")?)
            .build(),
    )
}

fn volume(path: &str, v: &Value) -> Result<Volume> {
    for (_, member) in NOT_IN_SDK.iter().filter(|(shape, _)| *shape == "Volume") {
        if v.get(member).is_some_and(|m| !m.is_null()) {
            return Err(error(&join(path, member), "not supported yet: the AWS SDK this ferry is built with does not know this member"));
        }
    }
    let o = Obj::new(path, v, &VOLUME)?;
    Ok(Volume::builder()
        .set_name(o.string("name")?)
        .set_host(o.object("host", host_volume_properties)?)
        .set_docker_volume_configuration(o.object("dockerVolumeConfiguration", docker_volume_configuration)?)
        .set_efs_volume_configuration(o.object("efsVolumeConfiguration", efs_volume_configuration)?)
        .set_fsx_windows_file_server_volume_configuration(o.object("fsxWindowsFileServerVolumeConfiguration", fsx_volume_configuration)?)
        .set_configured_at_launch(o.bool("configuredAtLaunch")?)
        .build())
}

fn host_volume_properties(path: &str, v: &Value) -> Result<HostVolumeProperties> {
    let o = Obj::new(path, v, &HOST_VOLUME_PROPERTIES)?;
    Ok(HostVolumeProperties::builder().set_source_path(o.string("sourcePath")?).build())
}

fn docker_volume_configuration(path: &str, v: &Value) -> Result<DockerVolumeConfiguration> {
    let o = Obj::new(path, v, &DOCKER_VOLUME_CONFIGURATION)?;
    Ok(DockerVolumeConfiguration::builder()
        .set_scope(o.enumeration("scope", Scope::values())?)
        .set_autoprovision(o.bool("autoprovision")?)
        .set_driver(o.string("driver")?)
        .set_driver_opts(o.string_map("driverOpts")?)
        .set_labels(o.string_map("labels")?)
        .build())
}

fn efs_volume_configuration(path: &str, v: &Value) -> Result<EfsVolumeConfiguration> {
    let o = Obj::new(path, v, &EFS_VOLUME_CONFIGURATION)?;
    o.built(
        EfsVolumeConfiguration::builder()
            .set_file_system_id(o.string("fileSystemId")?)
            .set_root_directory(o.string("rootDirectory")?)
            .set_transit_encryption(o.enumeration("transitEncryption", EfsTransitEncryption::values())?)
            .set_transit_encryption_port(o.int("transitEncryptionPort")?)
            .set_authorization_config(o.object("authorizationConfig", efs_authorization_config)?)
            .build(),
    )
}

fn efs_authorization_config(path: &str, v: &Value) -> Result<EfsAuthorizationConfig> {
    let o = Obj::new(path, v, &EFS_AUTHORIZATION_CONFIG)?;
    Ok(EfsAuthorizationConfig::builder()
        .set_access_point_id(o.string("accessPointId")?)
        .set_iam(o.enumeration("iam", EfsAuthorizationConfigIam::values())?)
        .build())
}

fn fsx_volume_configuration(path: &str, v: &Value) -> Result<FSxWindowsFileServerVolumeConfiguration> {
    let o = Obj::new(path, v, &FSX_WINDOWS_FILE_SERVER_VOLUME_CONFIGURATION)?;
    o.built(
        FSxWindowsFileServerVolumeConfiguration::builder()
            .set_file_system_id(o.string("fileSystemId")?)
            .set_root_directory(o.string("rootDirectory")?)
            .set_authorization_config(o.object("authorizationConfig", fsx_authorization_config)?)
            .build(),
    )
}

fn fsx_authorization_config(path: &str, v: &Value) -> Result<FSxWindowsFileServerAuthorizationConfig> {
    let o = Obj::new(path, v, &FSX_WINDOWS_FILE_SERVER_AUTHORIZATION_CONFIG)?;
    o.built(
        FSxWindowsFileServerAuthorizationConfig::builder()
            .set_credentials_parameter(o.string("credentialsParameter")?)
            .set_domain(o.string("domain")?)
            .build(),
    )
}

fn placement_constraint(path: &str, v: &Value) -> Result<TaskDefinitionPlacementConstraint> {
    let o = Obj::new(path, v, &TASK_DEFINITION_PLACEMENT_CONSTRAINT)?;
    Ok(TaskDefinitionPlacementConstraint::builder()
        .set_type(o.enumeration("type", TaskDefinitionPlacementConstraintType::values())?)
        .set_expression(o.string("expression")?)
        .build())
}

fn tag(path: &str, v: &Value) -> Result<Tag> {
    let o = Obj::new(path, v, &TAG)?;
    Ok(Tag::builder().set_key(o.string("key")?).set_value(o.string("value")?).build())
}

fn proxy_configuration(path: &str, v: &Value) -> Result<ProxyConfiguration> {
    let o = Obj::new(path, v, &PROXY_CONFIGURATION)?;
    o.built(
        ProxyConfiguration::builder()
            .set_type(o.enumeration("type", ProxyConfigurationType::values())?)
            .set_container_name(o.string("containerName")?)
            .set_properties(o.list("properties", key_value_pair)?)
            .build(),
    )
}

// Elastic Inference is retired and the SDK marks its members deprecated, but the API still
// takes and answers `inferenceAccelerators`: a task definition that has them round-trips.
#[allow(deprecated)]
fn inference_accelerator(path: &str, v: &Value) -> Result<InferenceAccelerator> {
    let o = Obj::new(path, v, &INFERENCE_ACCELERATOR)?;
    o.built(InferenceAccelerator::builder().set_device_name(o.string("deviceName")?).set_device_type(o.string("deviceType")?).build())
}

fn ephemeral_storage(path: &str, v: &Value) -> Result<EphemeralStorage> {
    let o = Obj::new(path, v, &EPHEMERAL_STORAGE)?;
    Ok(EphemeralStorage::builder().set_size_in_gib(o.int("sizeInGiB")?).build())
}

fn runtime_platform(path: &str, v: &Value) -> Result<RuntimePlatform> {
    let o = Obj::new(path, v, &RUNTIME_PLATFORM)?;
    Ok(RuntimePlatform::builder()
        .set_cpu_architecture(o.enumeration("cpuArchitecture", CpuArchitecture::values())?)
        .set_operating_system_family(o.enumeration("operatingSystemFamily", OsFamily::values())?)
        .build())
}

/// A JSON object being read as a model structure, with the path errors are reported at.
struct Obj<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn new(path: &str, v: &'a Value, shape: &Shape) -> Result<Self> {
        Self::new_ignoring(path, v, shape, &[])
    }

    /// Checks that `v` is an object with no member outside `shape` (other than `ignored`)
    /// and with every required one. Unknown members are reported before missing ones: a
    /// misspelt required member is one mistake, and "did you mean" names it.
    fn new_ignoring(path: &str, v: &'a Value, shape: &Shape, ignored: &[&str]) -> Result<Self> {
        let map = v.as_object().ok_or_else(|| error(path, format!("expected an object, got {}", shown(v))))?;
        if let Some(unknown) = map.keys().find(|k| !shape.members.contains(&k.as_str()) && !ignored.contains(&k.as_str())) {
            let hint = suggest(unknown, shape.members).map(|s| format!(" (did you mean \"{s}\"?)")).unwrap_or_default();
            return Err(error(&join(path, &ferry_core::text::excerpt(unknown)), format!("unknown field{hint}")));
        }
        if let Some(missing) = shape.required.iter().find(|k| map.get(**k).is_none_or(Value::is_null)) {
            return Err(error(&join(path, missing), "missing required field"));
        }
        Ok(Obj { path: path.to_string(), map })
    }

    fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The member's value; a JSON null counts as absent, as it does for the ECS API.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn read<T>(&self, key: &str, read: impl Fn(&str, &Value) -> Result<T>) -> Result<Option<T>> {
        self.get(key).map(|v| read(&self.at(key), v)).transpose()
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        self.read(key, as_string)
    }

    fn int(&self, key: &str) -> Result<Option<i32>> {
        self.read(key, as_int)
    }

    fn bool(&self, key: &str) -> Result<Option<bool>> {
        self.read(key, |path, v| v.as_bool().ok_or_else(|| error(path, format!("expected true or false, got {}", shown(v)))))
    }

    fn enumeration<T: for<'s> From<&'s str>>(&self, key: &str, values: &[&str]) -> Result<Option<T>> {
        self.read(key, |path, v| as_enum(path, v, values))
    }

    fn object<T>(&self, key: &str, read: impl Fn(&str, &Value) -> Result<T>) -> Result<Option<T>> {
        self.read(key, read)
    }

    fn list<T>(&self, key: &str, item: impl Fn(&str, &Value) -> Result<T>) -> Result<Option<Vec<T>>> {
        self.read(key, |path, v| {
            let items = v.as_array().ok_or_else(|| error(path, format!("expected a list, got {}", shown(v))))?;
            items.iter().enumerate().map(|(i, v)| item(&format!("{path}[{i}]"), v)).collect()
        })
    }

    fn strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.list(key, as_string)
    }

    fn ints(&self, key: &str) -> Result<Option<Vec<i32>>> {
        self.list(key, as_int)
    }

    fn enums<T: for<'s> From<&'s str>>(&self, key: &str, values: &[&str]) -> Result<Option<Vec<T>>> {
        self.list(key, |path, v| as_enum(path, v, values))
    }

    fn string_map(&self, key: &str) -> Result<Option<HashMap<String, String>>> {
        self.read(key, |path, v| {
            let map = v.as_object().ok_or_else(|| error(path, format!("expected an object, got {}", shown(v))))?;
            map.iter().map(|(k, v)| Ok((k.clone(), as_string(&join(path, k), v)?))).collect()
        })
    }

    /// The result of an SDK builder that checks required members. They were checked when
    /// the object was read, so a failure here is a member this module forgot to copy.
    fn built<T>(&self, built: std::result::Result<T, BuildError>) -> Result<T> {
        built.map_err(|e| error(&self.path, e.to_string()))
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_string() } else { format!("{path}.{key}") }
}

fn as_string(path: &str, v: &Value) -> Result<String> {
    v.as_str().map(str::to_string).ok_or_else(|| error(path, format!("expected a string, got {}", shown(v))))
}

fn as_int(path: &str, v: &Value) -> Result<i32> {
    match v.as_i64() {
        Some(n) => i32::try_from(n).map_err(|_| error(path, format!("expected a 32-bit integer, got {n}"))),
        None => Err(error(path, format!("expected an integer, got {}", shown(v)))),
    }
}

fn as_enum<T: for<'s> From<&'s str>>(path: &str, v: &Value, values: &[&str]) -> Result<T> {
    let s = v.as_str().ok_or_else(|| error(path, format!("expected a string, got {}", shown(v))))?;
    if values.contains(&s) {
        return Ok(T::from(s));
    }
    let hint = suggest(s, values).map(|s| format!("did you mean \"{s}\"? ")).unwrap_or_default();
    Err(error(path, format!("invalid value {} ({hint}expected one of: {})", ferry_core::text::quoted(s), values.join(", "))))
}

/// A JSON value as an error message shows it: compact, and cut short when long.
fn shown(v: &Value) -> String {
    ferry_core::text::excerpt_to(&v.to_string(), 40)
}

/// The candidate closest to `word` when it is close enough to be what was meant: case
/// differences are free, and at most a third of the letters may differ.
fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (ferry_core::text::distance(&word, &c.to_ascii_lowercase()), *c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Registers `input`, copying every member of the request into the call.
// Elastic Inference is retired and the SDK marks its members deprecated, but the API still
// takes and answers `inferenceAccelerators`: a task definition that has them round-trips.
#[allow(deprecated)]
pub async fn register(
    client: &ecs::Client,
    input: RegisterTaskDefinitionInput,
) -> std::result::Result<RegisterTaskDefinitionOutput, SdkError<RegisterTaskDefinitionError>> {
    client
        .register_task_definition()
        .set_family(input.family)
        .set_task_role_arn(input.task_role_arn)
        .set_execution_role_arn(input.execution_role_arn)
        .set_network_mode(input.network_mode)
        .set_container_definitions(input.container_definitions)
        .set_volumes(input.volumes)
        .set_placement_constraints(input.placement_constraints)
        .set_requires_compatibilities(input.requires_compatibilities)
        .set_cpu(input.cpu)
        .set_memory(input.memory)
        .set_tags(input.tags)
        .set_pid_mode(input.pid_mode)
        .set_ipc_mode(input.ipc_mode)
        .set_proxy_configuration(input.proxy_configuration)
        .set_inference_accelerators(input.inference_accelerators)
        .set_ephemeral_storage(input.ephemeral_storage)
        .set_runtime_platform(input.runtime_platform)
        .set_enable_fault_injection(input.enable_fault_injection)
        .send()
        .await
}

/// A described task definition as native ECS JSON: every member the SDK has, named as the
/// ECS model names it, absent members left out, enums as their wire strings, timestamps as
/// epoch seconds (as they travel on the wire). `tags` (from DescribeTaskDefinition with
/// `include: [TAGS]`) become `"tags"` when there are any.
///
/// A container's `cpu` is always present: the SDK cannot tell 0 from absent, and ECS
/// reports 0 for a container registered without one.
// Elastic Inference is retired and the SDK marks its members deprecated, but the API still
// takes and answers `inferenceAccelerators`: a task definition that has them round-trips.
#[allow(deprecated)]
pub fn to_json(td: &TaskDefinition, tags: &[Tag]) -> Value {
    let mut out = Out::default()
        .str("taskDefinitionArn", td.task_definition_arn.as_deref())
        .list("containerDefinitions", &td.container_definitions, container_definition_json)
        .str("family", td.family.as_deref())
        .str("taskRoleArn", td.task_role_arn.as_deref())
        .str("executionRoleArn", td.execution_role_arn.as_deref())
        .str("networkMode", td.network_mode.as_ref().map(NetworkMode::as_str))
        // The SDK reads a missing revision as 0; ECS never numbers a revision 0.
        .int("revision", Some(td.revision).filter(|r| *r != 0))
        .list("volumes", &td.volumes, volume_json)
        .str("status", td.status.as_ref().map(|s| s.as_str()))
        .list("requiresAttributes", &td.requires_attributes, attribute_json)
        .list("placementConstraints", &td.placement_constraints, placement_constraint_json)
        .list("compatibilities", &td.compatibilities, |c| Value::from(c.as_str()))
        .val("runtimePlatform", td.runtime_platform.as_ref().map(runtime_platform_json))
        .list("requiresCompatibilities", &td.requires_compatibilities, |c| Value::from(c.as_str()))
        .str("cpu", td.cpu.as_deref())
        .str("memory", td.memory.as_deref())
        .list("inferenceAccelerators", &td.inference_accelerators, inference_accelerator_json)
        .str("pidMode", td.pid_mode.as_ref().map(PidMode::as_str))
        .str("ipcMode", td.ipc_mode.as_ref().map(IpcMode::as_str))
        .val("proxyConfiguration", td.proxy_configuration.as_ref().map(proxy_configuration_json))
        .val("registeredAt", td.registered_at.map(|t| Value::from(t.as_secs_f64())))
        .val("deregisteredAt", td.deregistered_at.map(|t| Value::from(t.as_secs_f64())))
        .str("registeredBy", td.registered_by.as_deref())
        .val("ephemeralStorage", td.ephemeral_storage.as_ref().map(|e| Out::default().int("sizeInGiB", Some(e.size_in_gib)).done()))
        .bool("enableFaultInjection", td.enable_fault_injection);
    if !tags.is_empty() {
        out = out.val("tags", Some(Value::Array(tags.iter().map(tag_json).collect())));
    }
    out.done()
}

fn container_definition_json(c: &ContainerDefinition) -> Value {
    Out::default()
        .str("name", c.name.as_deref())
        .str("image", c.image.as_deref())
        .val(
            "repositoryCredentials",
            c.repository_credentials.as_ref().map(|r| Out::default().str("credentialsParameter", Some(&r.credentials_parameter)).done()),
        )
        .int("cpu", Some(c.cpu))
        .int("memory", c.memory)
        .int("memoryReservation", c.memory_reservation)
        .strings("links", &c.links)
        .list("portMappings", &c.port_mappings, port_mapping_json)
        .bool("essential", c.essential)
        .val("restartPolicy", c.restart_policy.as_ref().map(restart_policy_json))
        .strings("entryPoint", &c.entry_point)
        .strings("command", &c.command)
        .list("environment", &c.environment, key_value_pair_json)
        .list("environmentFiles", &c.environment_files, |f| {
            Out::default().str("value", Some(&f.value)).str("type", Some(f.r#type.as_str())).done()
        })
        .list("mountPoints", &c.mount_points, |m| {
            Out::default()
                .str("sourceVolume", m.source_volume.as_deref())
                .str("containerPath", m.container_path.as_deref())
                .bool("readOnly", m.read_only)
                .done()
        })
        .list("volumesFrom", &c.volumes_from, |v| {
            Out::default().str("sourceContainer", v.source_container.as_deref()).bool("readOnly", v.read_only).done()
        })
        .val("linuxParameters", c.linux_parameters.as_ref().map(linux_parameters_json))
        .list("secrets", &c.secrets, secret_json)
        .list("dependsOn", &c.depends_on, |d| {
            Out::default().str("containerName", Some(&d.container_name)).str("condition", Some(d.condition.as_str())).done()
        })
        .int("startTimeout", c.start_timeout)
        .int("stopTimeout", c.stop_timeout)
        .str("versionConsistency", c.version_consistency.as_ref().map(VersionConsistency::as_str))
        .str("hostname", c.hostname.as_deref())
        .str("user", c.user.as_deref())
        .str("workingDirectory", c.working_directory.as_deref())
        .bool("disableNetworking", c.disable_networking)
        .bool("privileged", c.privileged)
        .bool("readonlyRootFilesystem", c.readonly_root_filesystem)
        .strings("dnsServers", &c.dns_servers)
        .strings("dnsSearchDomains", &c.dns_search_domains)
        .list("extraHosts", &c.extra_hosts, |h| {
            Out::default().str("hostname", Some(&h.hostname)).str("ipAddress", Some(&h.ip_address)).done()
        })
        .strings("dockerSecurityOptions", &c.docker_security_options)
        .bool("interactive", c.interactive)
        .bool("pseudoTerminal", c.pseudo_terminal)
        .map("dockerLabels", &c.docker_labels)
        .list("ulimits", &c.ulimits, |u| {
            Out::default()
                .str("name", Some(u.name.as_str()))
                .int("softLimit", Some(u.soft_limit))
                .int("hardLimit", Some(u.hard_limit))
                .done()
        })
        .val("logConfiguration", c.log_configuration.as_ref().map(log_configuration_json))
        .val("healthCheck", c.health_check.as_ref().map(health_check_json))
        .list("systemControls", &c.system_controls, |s| {
            Out::default().str("namespace", s.namespace.as_deref()).str("value", s.value.as_deref()).done()
        })
        .list("resourceRequirements", &c.resource_requirements, |r| {
            Out::default().str("value", Some(&r.value)).str("type", Some(r.r#type.as_str())).done()
        })
        .val(
            "firelensConfiguration",
            c.firelens_configuration
                .as_ref()
                .map(|f| Out::default().str("type", Some(f.r#type.as_str())).map("options", &f.options).done()),
        )
        .strings("credentialSpecs", &c.credential_specs)
        .done()
}

fn port_mapping_json(p: &PortMapping) -> Value {
    Out::default()
        .int("containerPort", p.container_port)
        .int("hostPort", p.host_port)
        .str("protocol", p.protocol.as_ref().map(TransportProtocol::as_str))
        .str("name", p.name.as_deref())
        .str("appProtocol", p.app_protocol.as_ref().map(ApplicationProtocol::as_str))
        .str("containerPortRange", p.container_port_range.as_deref())
        .done()
}

fn restart_policy_json(r: &ContainerRestartPolicy) -> Value {
    Out::default()
        .bool("enabled", Some(r.enabled))
        .list("ignoredExitCodes", &r.ignored_exit_codes, |c| Value::from(*c))
        .int("restartAttemptPeriod", r.restart_attempt_period)
        .done()
}

fn key_value_pair_json(p: &KeyValuePair) -> Value {
    Out::default().str("name", p.name.as_deref()).str("value", p.value.as_deref()).done()
}

fn secret_json(s: &Secret) -> Value {
    Out::default().str("name", Some(&s.name)).str("valueFrom", Some(&s.value_from)).done()
}

fn linux_parameters_json(l: &LinuxParameters) -> Value {
    Out::default()
        .val("capabilities", l.capabilities.as_ref().map(|c| Out::default().strings("add", &c.add).strings("drop", &c.drop).done()))
        .list("devices", &l.devices, |d| {
            Out::default()
                .str("hostPath", Some(&d.host_path))
                .str("containerPath", d.container_path.as_deref())
                .list("permissions", &d.permissions, |p| Value::from(p.as_str()))
                .done()
        })
        .bool("initProcessEnabled", l.init_process_enabled)
        .int("sharedMemorySize", l.shared_memory_size)
        .list("tmpfs", &l.tmpfs, |t| {
            Out::default()
                .str("containerPath", Some(&t.container_path))
                .int("size", Some(t.size))
                .strings("mountOptions", &t.mount_options)
                .done()
        })
        .int("maxSwap", l.max_swap)
        .int("swappiness", l.swappiness)
        .done()
}

fn log_configuration_json(l: &LogConfiguration) -> Value {
    Out::default()
        .str("logDriver", Some(l.log_driver.as_str()))
        .map("options", &l.options)
        .list("secretOptions", &l.secret_options, secret_json)
        .done()
}

fn health_check_json(h: &HealthCheck) -> Value {
    Out::default()
        .val("command", Some(Value::from(h.command.clone())))
        .int("interval", h.interval)
        .int("timeout", h.timeout)
        .int("retries", h.retries)
        .int("startPeriod", h.start_period)
        .done()
}

fn volume_json(v: &Volume) -> Value {
    Out::default()
        .str("name", v.name.as_deref())
        .val("host", v.host.as_ref().map(|h| Out::default().str("sourcePath", h.source_path.as_deref()).done()))
        .val("dockerVolumeConfiguration", v.docker_volume_configuration.as_ref().map(docker_volume_json))
        .val("efsVolumeConfiguration", v.efs_volume_configuration.as_ref().map(efs_volume_json))
        .val("fsxWindowsFileServerVolumeConfiguration", v.fsx_windows_file_server_volume_configuration.as_ref().map(fsx_volume_json))
        .bool("configuredAtLaunch", v.configured_at_launch)
        .done()
}

fn docker_volume_json(d: &DockerVolumeConfiguration) -> Value {
    Out::default()
        .str("scope", d.scope.as_ref().map(Scope::as_str))
        .bool("autoprovision", d.autoprovision)
        .str("driver", d.driver.as_deref())
        .map("driverOpts", &d.driver_opts)
        .map("labels", &d.labels)
        .done()
}

fn efs_volume_json(e: &EfsVolumeConfiguration) -> Value {
    Out::default()
        .str("fileSystemId", Some(&e.file_system_id))
        .str("rootDirectory", e.root_directory.as_deref())
        .str("transitEncryption", e.transit_encryption.as_ref().map(EfsTransitEncryption::as_str))
        .int("transitEncryptionPort", e.transit_encryption_port)
        .val(
            "authorizationConfig",
            e.authorization_config.as_ref().map(|a| {
                Out::default()
                    .str("accessPointId", a.access_point_id.as_deref())
                    .str("iam", a.iam.as_ref().map(EfsAuthorizationConfigIam::as_str))
                    .done()
            }),
        )
        .done()
}

fn fsx_volume_json(f: &FSxWindowsFileServerVolumeConfiguration) -> Value {
    Out::default()
        .str("fileSystemId", Some(&f.file_system_id))
        .str("rootDirectory", Some(&f.root_directory))
        .val(
            "authorizationConfig",
            f.authorization_config
                .as_ref()
                .map(|a| Out::default().str("credentialsParameter", Some(&a.credentials_parameter)).str("domain", Some(&a.domain)).done()),
        )
        .done()
}

fn attribute_json(a: &Attribute) -> Value {
    Out::default()
        .str("name", Some(&a.name))
        .str("value", a.value.as_deref())
        .str("targetType", a.target_type.as_ref().map(|t| t.as_str()))
        .str("targetId", a.target_id.as_deref())
        .done()
}

fn placement_constraint_json(p: &TaskDefinitionPlacementConstraint) -> Value {
    Out::default()
        .str("type", p.r#type.as_ref().map(TaskDefinitionPlacementConstraintType::as_str))
        .str("expression", p.expression.as_deref())
        .done()
}

fn runtime_platform_json(r: &RuntimePlatform) -> Value {
    Out::default()
        .str("cpuArchitecture", r.cpu_architecture.as_ref().map(CpuArchitecture::as_str))
        .str("operatingSystemFamily", r.operating_system_family.as_ref().map(OsFamily::as_str))
        .done()
}

// Elastic Inference is retired and the SDK marks its members deprecated, but the API still
// takes and answers `inferenceAccelerators`: a task definition that has them round-trips.
#[allow(deprecated)]
fn inference_accelerator_json(i: &InferenceAccelerator) -> Value {
    Out::default().str("deviceName", Some(&i.device_name)).str("deviceType", Some(&i.device_type)).done()
}

fn proxy_configuration_json(p: &ProxyConfiguration) -> Value {
    Out::default()
        .str("type", p.r#type.as_ref().map(ProxyConfigurationType::as_str))
        .str("containerName", Some(&p.container_name))
        .list("properties", &p.properties, key_value_pair_json)
        .done()
}

fn tag_json(t: &Tag) -> Value {
    Out::default().str("key", t.key.as_deref()).str("value", t.value.as_deref()).done()
}

/// A JSON object under construction that leaves absent (None) members out.
#[derive(Default)]
struct Out(Map<String, Value>);

impl Out {
    fn val(mut self, key: &str, v: Option<Value>) -> Self {
        if let Some(v) = v {
            self.0.insert(key.to_string(), v);
        }
        self
    }

    fn str(self, key: &str, v: Option<&str>) -> Self {
        self.val(key, v.map(Value::from))
    }

    fn int(self, key: &str, v: Option<i32>) -> Self {
        self.val(key, v.map(Value::from))
    }

    fn bool(self, key: &str, v: Option<bool>) -> Self {
        self.val(key, v.map(Value::from))
    }

    fn list<T>(self, key: &str, v: &Option<Vec<T>>, item: impl Fn(&T) -> Value) -> Self {
        self.val(key, v.as_ref().map(|items| Value::Array(items.iter().map(item).collect())))
    }

    fn strings(self, key: &str, v: &Option<Vec<String>>) -> Self {
        self.list(key, v, |s| Value::from(s.as_str()))
    }

    /// A string map, its keys sorted so the output does not depend on hashing.
    fn map(self, key: &str, v: &Option<HashMap<String, String>>) -> Self {
        self.val(
            key,
            v.as_ref().map(|m| {
                let sorted: BTreeMap<&String, &String> = m.iter().collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect())
            }),
        )
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"family": "web", "containerDefinitions": [{"name": "web", "image": "web:1", "memory": 128}]})
    }

    fn error_of(td: Value) -> String {
        register_input(&td).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_definition_converts() {
        let input = register_input(&minimal()).unwrap();
        assert_eq!(input.family.as_deref(), Some("web"));
        let containers = input.container_definitions.unwrap();
        assert_eq!(containers[0].image.as_deref(), Some("web:1"));
        assert_eq!(containers[0].memory, Some(128));
        assert_eq!(input.volumes, None, "absent members stay absent");
    }

    #[test]
    fn an_unknown_field_is_named_with_its_path_and_a_suggestion() {
        let mut td = minimal();
        td["containerDefinitions"][0]["imagee"] = json!("web:2");
        assert_eq!(error_of(td), r#"containerDefinitions[0].imagee: unknown field (did you mean "image"?)"#);

        let mut td = minimal();
        td["containerDefinitions"][0]["linuxParameters"] = json!({"capabilities": {"Add": ["NET_ADMIN"]}});
        assert_eq!(error_of(td), r#"containerDefinitions[0].linuxParameters.capabilities.Add: unknown field (did you mean "add"?)"#);

        let mut td = minimal();
        td["colour"] = json!("blue");
        assert_eq!(error_of(td), "colour: unknown field");
    }

    #[test]
    fn a_wrong_json_type_is_named_with_its_path() {
        let mut td = minimal();
        td["containerDefinitions"][0]["portMappings"] = json!([{"containerPort": 80}, {"containerPort": "80"}]);
        assert_eq!(error_of(td), r#"containerDefinitions[0].portMappings[1].containerPort: expected an integer, got "80""#);

        let mut td = minimal();
        td["cpu"] = json!(256);
        assert_eq!(error_of(td), "cpu: expected a string, got 256");

        let mut td = minimal();
        td["containerDefinitions"][0]["essential"] = json!("yes");
        assert_eq!(error_of(td), r#"containerDefinitions[0].essential: expected true or false, got "yes""#);

        let mut td = minimal();
        td["containerDefinitions"][0]["dockerLabels"] = json!({"a": 1});
        assert_eq!(error_of(td), "containerDefinitions[0].dockerLabels.a: expected a string, got 1");

        let mut td = minimal();
        td["containerDefinitions"][0]["memory"] = json!(1u64 << 40);
        assert_eq!(error_of(td), "containerDefinitions[0].memory: expected a 32-bit integer, got 1099511627776");

        assert_eq!(error_of(json!(["web"])), r#"task definition: expected an object, got ["web"]"#);
    }

    #[test]
    fn an_invalid_enum_value_lists_the_valid_ones() {
        let mut td = minimal();
        td["networkMode"] = json!("bridged");
        assert_eq!(
            error_of(td),
            r#"networkMode: invalid value "bridged" (did you mean "bridge"? expected one of: awsvpc, bridge, host, none)"#
        );

        let mut td = minimal();
        td["requiresCompatibilities"] = json!(["FARGATE", "LAMBDA"]);
        assert_eq!(
            error_of(td),
            r#"requiresCompatibilities[1]: invalid value "LAMBDA" (expected one of: EC2, EXTERNAL, FARGATE, MANAGED_INSTANCES)"#
        );
    }

    #[test]
    fn a_missing_required_member_is_named() {
        assert_eq!(error_of(json!({"containerDefinitions": []})), "family: missing required field");
        assert_eq!(error_of(json!({"family": "web"})), "containerDefinitions: missing required field");

        let mut td = minimal();
        td["containerDefinitions"][0]["secrets"] = json!([{"name": "TOKEN"}]);
        assert_eq!(error_of(td), "containerDefinitions[0].secrets[0].valueFrom: missing required field");

        let mut td = minimal();
        td["volumes"] = json!([{"name": "d", "efsVolumeConfiguration": {"rootDirectory": "/"}}]);
        assert_eq!(error_of(td), "volumes[0].efsVolumeConfiguration.fileSystemId: missing required field");
    }

    #[test]
    fn a_misspelt_required_member_is_reported_as_the_misspelling() {
        let mut td = minimal();
        td["containerDefinitions"][0]["secrets"] = json!([{"name": "TOKEN", "valuefrom": "arn"}]);
        assert_eq!(error_of(td), r#"containerDefinitions[0].secrets[0].valuefrom: unknown field (did you mean "valueFrom"?)"#);
    }

    #[test]
    fn read_only_members_of_a_described_definition_are_ignored() {
        let mut td = minimal();
        td["taskDefinitionArn"] = json!("arn:aws:ecs:us-east-1:000000000000:task-definition/web:1");
        td["revision"] = json!(1);
        td["status"] = json!("ACTIVE");
        td["requiresAttributes"] = json!([{"name": "ecs.capability.execution-role-awslogs"}]);
        td["compatibilities"] = json!(["EC2"]);
        td["registeredAt"] = json!(1700000000.0);
        td["registeredBy"] = json!("arn:aws:iam::000000000000:root");
        td["pidMode"] = Value::Null;
        assert!(register_input(&td).is_ok());
    }

    #[test]
    fn a_member_the_sdk_lacks_is_refused_rather_than_dropped() {
        let mut td = minimal();
        td["volumes"] = json!([{"name": "s3", "s3filesVolumeConfiguration": {"fileSystemArn": "arn:aws:s3files:::fs"}}]);
        assert_eq!(
            error_of(td),
            "volumes[0].s3filesVolumeConfiguration: not supported yet: the AWS SDK this ferry is built with does not know this member"
        );
    }

    #[test]
    fn suggestions_need_to_be_close() {
        assert_eq!(suggest("imagee", CONTAINER_DEFINITION.members), Some("image"));
        assert_eq!(suggest("Environment", CONTAINER_DEFINITION.members), Some("environment"));
        assert_eq!(suggest("portmapings", CONTAINER_DEFINITION.members), Some("portMappings"));
        assert_eq!(suggest("colour", CONTAINER_DEFINITION.members), None);
        assert_eq!(ferry_core::text::distance("kitten", "sitting"), 3);
    }

    #[test]
    fn to_json_renders_the_read_only_members() {
        use crate::ecs::primitives::DateTime;
        use crate::ecs::types::{TargetType, TaskDefinitionStatus};
        let td = TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:000000000000:task-definition/web:7")
            .family("web")
            .revision(7)
            .status(TaskDefinitionStatus::Inactive)
            .requires_attributes(
                Attribute::builder()
                    .name("ecs.capability.secrets.ssm.environment-variables")
                    .value("true")
                    .target_type(TargetType::ContainerInstance)
                    .target_id("i-0123")
                    .build()
                    .unwrap(),
            )
            .compatibilities(Compatibility::Ec2)
            .registered_at(DateTime::from_secs_f64(1700000000.5))
            .deregistered_at(DateTime::from_secs(1700000100))
            .registered_by("arn:aws:iam::000000000000:root")
            .build();
        assert_eq!(
            to_json(&td, &[]),
            json!({
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:7",
                "family": "web",
                "revision": 7,
                "status": "INACTIVE",
                "requiresAttributes": [{
                    "name": "ecs.capability.secrets.ssm.environment-variables",
                    "value": "true",
                    "targetType": "container-instance",
                    "targetId": "i-0123"
                }],
                "compatibilities": ["EC2"],
                "registeredAt": 1700000000.5,
                "deregisteredAt": 1700000100.0,
                "registeredBy": "arn:aws:iam::000000000000:root"
            })
        );
    }

    #[test]
    fn to_json_leaves_absent_members_out_and_sorts_maps() {
        let td = TaskDefinition::builder()
            .family("web")
            .container_definitions(
                ContainerDefinition::builder().name("web").image("web:1").docker_labels("b", "2").docker_labels("a", "1").build(),
            )
            .build();
        let json = to_json(&td, &[]);
        assert_eq!(
            json,
            json!({"containerDefinitions": [{"name": "web", "image": "web:1", "cpu": 0, "dockerLabels": {"a": "1", "b": "2"}}], "family": "web"})
        );
        let labels: Vec<&String> = json["containerDefinitions"][0]["dockerLabels"].as_object().unwrap().keys().collect();
        assert_eq!(labels, ["a", "b"]);
        let tagged = to_json(&td, &[Tag::builder().key("team").value("platform").build()]);
        assert_eq!(tagged["tags"], json!([{"key": "team", "value": "platform"}]));
    }
}
