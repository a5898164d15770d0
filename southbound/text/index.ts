// The canonical text form of flows: ovs-ofctl syntax, as Open vSwitch 3.1
// prints flows dumped over OpenFlow 1.3. Logs, API answers and
// `ovs-ofctl dump-flows` read the same.
export { OfctlSyntaxError, OVS_FIELDS, OvsField, ovsFieldOf, ovsFieldByName, codecFieldName, fieldWidth } from './fields';
export { formatPort, formatPort16, parsePort, parsePort16, CT_STATE_FLAGS, TCP_FLAGS } from './values';
export { formatMatch, matchTokens } from './match-format';
export { parseMatch } from './match-parse';
export { formatActions, formatInstructions, formatSubfield, actionText } from './actions-format';
export { parseActions, parseInstructions, parseSubfield, splitTopLevel, ActionContext } from './actions-parse';
export {
  FlowText, formatFlow, parseFlow, normalizeFlowLine, normalizeDumpFlows, canonicalMatch, canonicalFlow,
  FLOW_FLAGS, OFP_DEFAULT_PRIORITY,
} from './flow';
