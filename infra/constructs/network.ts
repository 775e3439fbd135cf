import type { RemovalPolicy } from 'aws-cdk-lib';
import {
  CfnFlowLog,
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  InterfaceVpcEndpointAwsService,
  type GatewayVpcEndpoint,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
  type InterfaceVpcEndpoint,
  type ISecurityGroup,
} from 'aws-cdk-lib/aws-ec2';
import { Peer } from 'aws-cdk-lib/aws-ec2';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface NetworkProps {
  /** AZs that get a Secrets Manager endpoint ENI; 1 saves ~$7.30/month, 2 survives an AZ outage. */
  readonly secretsEndpointAzs: 1 | 2;
  /** Explicit AZ names; default: the region's first two (see docs/deploy.md for us-east-1). */
  readonly availabilityZones?: readonly string[];
  readonly logRetention: RetentionDays;
  readonly logRemovalPolicy: RemovalPolicy;
  /** An SQS interface endpoint (the mail queue), in as many AZs as the Secrets Manager one. */
  readonly sqsEndpoint?: boolean;
}

/**
 * A VPC that exists only so functions can reach EFS: two AZs of isolated subnets, no internet
 * gateway and no NAT gateway (~$33/month each, the largest line of a small deployment).
 * Everything the functions call outside the VPC has an endpoint: S3 a free gateway endpoint,
 * Secrets Manager an interface endpoint, reachable only from the database functions.
 */
export class Network extends Construct {
  readonly vpc: Vpc;
  /** The security group of every function that mounts the database. */
  readonly functionSecurityGroup: ISecurityGroup;
  readonly secretsEndpoint: InterfaceVpcEndpoint;
  /** Its policy is narrowed to the uploads bucket by the stack, once the bucket exists. */
  readonly s3Endpoint: GatewayVpcEndpoint;
  /** Only with mail: how the VPC functions put messages on the mail queue. */
  readonly sqsEndpoint: InterfaceVpcEndpoint | undefined;

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpc = new Vpc(this, 'Vpc', {
      ...(props.availabilityZones ? { availabilityZones: [...props.availabilityZones] } : { maxAzs: 2 }),
      natGateways: 0,
      subnetConfiguration: [{ name: 'app', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      restrictDefaultSecurityGroup: false, // its custom resource would add a Lambda for nothing we use
    });
    // Rejected flows only: the question this VPC raises is "why can a function not reach EFS
    // or an endpoint" (a security group rule), and accepted traffic is nothing but NFS and
    // HTTPS to the endpoints, which would only add ingestion cost.
    const flowLogs = new LogGroup(this, 'FlowLogs', { retention: props.logRetention, removalPolicy: props.logRemovalPolicy });
    const flowLog = this.vpc.addFlowLog('RejectedFlows', {
      destination: FlowLogDestination.toCloudWatchLogs(flowLogs),
      trafficType: FlowLogTrafficType.REJECT,
    });
    // The flow log names its role, not the role's policy: without this it can be created (and
    // start delivering) before it may write to the group, and a delivery error is all it shows.
    // (From the CfnFlowLog alone: the role is also a child of the FlowLog construct.)
    const writePolicy = flowLog.iamRole?.node.tryFindChild('DefaultPolicy');
    const resource = flowLog.node.children.find((child): child is CfnFlowLog => child instanceof CfnFlowLog);
    if (writePolicy && resource) resource.node.addDependency(writePolicy);

    this.s3Endpoint = this.vpc.addGatewayEndpoint('S3', {
      service: GatewayVpcEndpointAwsService.S3,
      subnets: [{ subnetType: SubnetType.PRIVATE_ISOLATED }],
    });

    const functions = new SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: this.vpc,
      description: 'Lambda functions that mount the SQLite file system',
      allowAllOutbound: false,
    });
    // HTTPS can only go to the VPC endpoints (there is no route anywhere else); NFS to EFS is
    // opened by the file system mount itself.
    functions.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'HTTPS to the VPC endpoints (S3, Secrets Manager, SQS)');
    this.functionSecurityGroup = functions;

    this.secretsEndpoint = this.vpc.addInterfaceEndpoint('SecretsManager', {
      service: InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
      privateDnsEnabled: true,
      open: false,
      subnets: { subnets: this.vpc.isolatedSubnets.slice(0, props.secretsEndpointAzs) },
    });
    this.secretsEndpoint.connections.allowDefaultPortFrom(functions, 'Functions read the JWT secret');

    if (props.sqsEndpoint) {
      const endpoint = this.vpc.addInterfaceEndpoint('Sqs', {
        service: InterfaceVpcEndpointAwsService.SQS,
        privateDnsEnabled: true,
        open: false,
        subnets: { subnets: this.vpc.isolatedSubnets.slice(0, props.secretsEndpointAzs) },
      });
      endpoint.connections.allowDefaultPortFrom(functions, 'Functions queue mail');
      this.sqsEndpoint = endpoint;
    } else {
      this.sqsEndpoint = undefined;
    }
  }
}
